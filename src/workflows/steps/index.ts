import { httpStep, HttpStep } from './http';
import { transformStep, TransformStep } from './transform';
import type { RunContext, StepHooks, StepResult, StepType } from './step-type';

/** A step of a workflow definition: one of the step types below. */
export type WorkflowStep = HttpStep | TransformStep;

/**
 * The registry of step types: a new type is one file of this folder (its fields, their checks and
 * its runner, a `StepType`) and one entry here.
 */
export const STEP_TYPES: { [T in WorkflowStep['type']]: StepType<Extract<WorkflowStep, { type: T }>> } = {
  http: httpStep,
  transform: transformStep,
};

/** The type of a step already validated (a stored definition). */
export function stepTypeOf(step: WorkflowStep): StepType<WorkflowStep> {
  return STEP_TYPES[step.type] as StepType<WorkflowStep>;
}

export const isStepType = (type: unknown): type is WorkflowStep['type'] => typeof type === 'string' && Object.hasOwn(STEP_TYPES, type);

/** Runs one step of a validated definition by its type; throws StepFailed (with the step's record) when it fails. */
export function runStep(
  id: string,
  step: WorkflowStep,
  context: RunContext,
  signingSecrets: readonly string[] = [],
  hooks: StepHooks = {},
): Promise<StepResult> {
  return stepTypeOf(step).run(id, step, context, signingSecrets, hooks);
}
