import { describeJsonTextProblem, findJsonTextProblem } from '../validation/json-text';
import { templatePlaceholders } from './template';

/**
 * The workflow definition format of the contract: steps keyed by id, run from `startStep` along
 * `next`. Only data, never code: `http` posts the run's context, `transform` fills a JSON
 * template with `{{payload.x}}` / `{{steps.<id>.output.y}}` placeholders.
 */
export interface HttpStep {
  type: 'http';
  url: string;
  next?: string;
  timeoutMs?: number;
}

export interface TransformStep {
  type: 'transform';
  output: unknown;
  next?: string;
}

export type WorkflowStep = HttpStep | TransformStep;

export interface WorkflowDefinition {
  name: string;
  startStep?: string;
  steps: Record<string, WorkflowStep>;
}

export const DEFAULT_HTTP_TIMEOUT_MS = 10_000;
export const MAX_HTTP_TIMEOUT_MS = 60_000;
export const MAX_STEPS = 50;
const STEP_ID = /^[A-Za-z0-9_-]{1,64}$/;
const STEP_KEYS = { http: ['type', 'url', 'next', 'timeoutMs'], transform: ['type', 'output', 'next'] } as const;
const TOP_KEYS = ['name', 'startStep', 'steps', 'description'];

export interface ValidatedDefinition {
  definition: WorkflowDefinition;
  /** The starting step when the definition names an existing one; null makes it stored but not startable. */
  startStep: string | null;
  startable: boolean;
  /** Why it is not startable (empty when it is). */
  notStartableBecause: string | null;
}

export class DefinitionError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid workflow definition:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'DefinitionError';
  }
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Checks a parsed definition and lists every problem at once, each with the JSON path it is
 * about. A missing or unknown `startStep` is not a problem: such a workflow is stored but not startable.
 */
export function validateDefinition(input: unknown): ValidatedDefinition {
  const problems: string[] = [];
  if (!isObject(input)) throw new DefinitionError(['the definition must be a JSON object']);

  const text = findJsonTextProblem(input, '$');
  if (text) {
    const at = text.at.replace(/^\$\.?/, '') || 'the definition';
    problems.push(describeJsonTextProblem(at, at, text));
  }
  for (const key of Object.keys(input)) {
    if (!TOP_KEYS.includes(key)) problems.push(`${key}: unknown field (expected ${TOP_KEYS.join(', ')})`);
  }
  const name = input.name;
  if (typeof name !== 'string' || name.trim().length < 1 || name.trim().length > 200) {
    problems.push('name: required, a string of 1 to 200 characters');
  }
  if (input.startStep !== undefined && input.startStep !== null && typeof input.startStep !== 'string') {
    problems.push('startStep: must be the id of a step (a string)');
  }

  const steps = input.steps;
  const stepIds = isObject(steps) ? Object.keys(steps) : [];
  if (!isObject(steps)) {
    problems.push('steps: required, an object of steps keyed by step id');
  } else {
    if (stepIds.length > MAX_STEPS) problems.push(`steps: at most ${MAX_STEPS} steps`);
    for (const id of stepIds) checkStep(id, steps[id], stepIds, problems);
  }

  // Looked for whatever else is wrong, so that one run of `alloy workflow create` lists every problem.
  const cycle = isObject(steps) ? findCycle(steps) : null;
  if (cycle) problems.push(`steps: the steps ${cycle.join(' → ')} form a loop through "next"; a run would never end`);
  if (problems.length) throw new DefinitionError(problems);

  const definition = input as unknown as WorkflowDefinition;
  const start = typeof definition.startStep === 'string' ? definition.startStep : null;
  let notStartableBecause: string | null = null;
  if (start === null) notStartableBecause = 'it has no startStep';
  else if (!stepIds.includes(start)) notStartableBecause = `its startStep "${start}" names no step`;
  return {
    definition: { ...definition, name: definition.name.trim() },
    startStep: notStartableBecause ? null : start,
    startable: notStartableBecause === null,
    notStartableBecause,
  };
}

function checkStep(id: string, step: unknown, stepIds: string[], problems: string[]): void {
  const at = `steps.${id}`;
  if (!STEP_ID.test(id)) problems.push(`${at}: a step id is 1 to 64 letters, digits, "_" or "-"`);
  // Step results are kept in an object keyed by step id, where this name would set its prototype.
  else if (id === '__proto__') problems.push(`${at}: "__proto__" cannot be a step id`);
  if (!isObject(step)) {
    problems.push(`${at}: must be an object with a "type"`);
    return;
  }
  if (step.type !== 'http' && step.type !== 'transform') {
    problems.push(`${at}.type: must be "http" or "transform"${step.type === undefined ? '' : `, got ${JSON.stringify(step.type)}`}`);
    return;
  }
  const allowed: readonly string[] = STEP_KEYS[step.type];
  for (const key of Object.keys(step)) {
    if (!allowed.includes(key)) problems.push(`${at}.${key}: unknown field for a ${step.type} step (expected ${allowed.join(', ')})`);
  }
  if (step.next !== undefined) {
    if (typeof step.next !== 'string') problems.push(`${at}.next: must be the id of a step`);
    else if (!stepIds.includes(step.next)) problems.push(`${at}.next: names no step ("${step.next}")`);
  }
  if (step.type === 'http') {
    if (typeof step.url !== 'string' || !isHttpUrl(step.url)) problems.push(`${at}.url: required, an absolute http:// or https:// URL`);
    if (
      step.timeoutMs !== undefined &&
      (typeof step.timeoutMs !== 'number' ||
        !Number.isInteger(step.timeoutMs) ||
        step.timeoutMs < 1 ||
        step.timeoutMs > MAX_HTTP_TIMEOUT_MS)
    ) {
      problems.push(`${at}.timeoutMs: a whole number of milliseconds from 1 to ${MAX_HTTP_TIMEOUT_MS}`);
    }
  } else {
    if (!('output' in step)) problems.push(`${at}.output: required, the JSON template of the step's output`);
    for (const placeholder of templatePlaceholders(step.output)) {
      const problem = placeholderProblem(placeholder, stepIds);
      if (problem) problems.push(`${at}.output: "{{${placeholder}}}" ${problem}`);
    }
  }
}

function placeholderProblem(path: string, stepIds: string[]): string | null {
  const parts = path.split('.');
  if (parts.some((p) => p === '')) return 'is not a path like payload.x or steps.<id>.output.y';
  if (parts[0] === 'payload' || parts[0] === 'run' || parts[0] === 'conversation' || parts[0] === 'files') return null;
  if (parts[0] === 'steps') {
    if (parts.length < 2 || !stepIds.includes(parts[1])) return `names no step${parts[1] ? ` ("${parts[1]}")` : ''}`;
    return null;
  }
  return 'must start with payload., steps.<id>., run., conversation. or files.';
}

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}

/**
 * A loop through `next` anywhere in the steps, as the list of step ids in it. Only `next` values
 * that name a step are followed, so a definition with other problems is searched too.
 */
function findCycle(steps: Record<string, unknown>): string[] | null {
  const nextOf = (id: string): string | undefined => {
    const step = steps[id];
    const next = isObject(step) ? step.next : undefined;
    return typeof next === 'string' && Object.prototype.hasOwnProperty.call(steps, next) ? next : undefined;
  };
  const done = new Set<string>();
  for (const start of Object.keys(steps)) {
    const path: string[] = [];
    let current: string | undefined = start;
    while (current !== undefined && !done.has(current)) {
      const at = path.indexOf(current);
      if (at >= 0) return [...path.slice(at), current];
      path.push(current);
      current = nextOf(current);
    }
    for (const id of path) done.add(id);
  }
  return null;
}
