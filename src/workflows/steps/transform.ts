import { renderTemplate, templatePlaceholders } from '../template';
import type { RunContext, StepResult, StepType } from './step-type';

/** Fills a JSON template with `{{payload.x}}` / `{{steps.<id>.output.y}}` placeholders. */
export interface TransformStep {
  type: 'transform';
  output: unknown;
  next?: string;
}

function placeholderProblem(path: string, stepIds: readonly string[]): string | null {
  const parts = path.split('.');
  if (parts.some((p) => p === '')) return 'is not a path like payload.x or steps.<id>.output.y';
  if (parts[0] === 'payload' || parts[0] === 'run' || parts[0] === 'conversation' || parts[0] === 'files') return null;
  if (parts[0] === 'steps') {
    if (parts.length < 2 || !stepIds.includes(parts[1])) return `names no step${parts[1] ? ` ("${parts[1]}")` : ''}`;
    return null;
  }
  return 'must start with payload., steps.<id>., run., conversation. or files.';
}

function runTransform(_id: string, step: TransformStep, context: RunContext): StepResult {
  const startedAt = new Date().toISOString();
  const output = renderTemplate(step.output, context);
  return { type: 'transform', output, startedAt, finishedAt: new Date().toISOString() };
}

export const transformStep: StepType<TransformStep> = {
  type: 'transform',
  keys: ['type', 'output', 'next'],
  check(step, { at, stepIds, problems }) {
    if (!('output' in step)) problems.push(`${at}.output: required, the JSON template of the step's output`);
    for (const placeholder of templatePlaceholders(step.output)) {
      const problem = placeholderProblem(placeholder, stepIds);
      if (problem) problems.push(`${at}.output: "{{${placeholder}}}" ${problem}`);
    }
  },
  // Takes no measurable time.
  longestSeconds: () => 0,
  run: async (id, step, context) => runTransform(id, step, context),
};
