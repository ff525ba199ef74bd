/** The record a step leaves in its run (`steps.<id>` of later steps' context, the run's `steps`). */
export interface StepResult {
  type: 'http' | 'transform';
  /** HTTP status of an `http` step's answer. */
  status?: number;
  output: unknown;
  /** An `http` step's answer was longer than 1 MB: `output` is its first 1 MB, as text. */
  truncated?: boolean;
  error?: string;
  startedAt: string;
  finishedAt: string;
}

/** A file as steps see it in their context (`files`). */
export interface ContextFile {
  id: string;
  path: string;
  name: string;
  contentType: string;
  size: number;
  md5: string;
  downloadUrl: string;
}

/** One message of a conversation: an earlier input (`user`) or the output of a run that succeeded (`teammate`). */
export interface ContextMessage {
  role: 'user' | 'teammate';
  content: unknown;
  runId: string;
  at: string;
}

/** What a turn's steps get as `conversation` (read by conversation-context.ts). */
export interface ConversationContext {
  id: string;
  /** The most recent earlier turns that fit, oldest first; two messages per turn. */
  messages: ContextMessage[];
  /** Earlier turns that succeeded but were left out to stay within MAX_CONTEXT_TURNS and MAX_CONTEXT_BYTES (conversation-context.ts). */
  omittedTurns: number;
}

/**
 * What steps see: the run, its payload and the results of the steps run so far; a teammate's turn
 * also its conversation, and a run given files those files with signed links.
 */
export interface RunContext {
  run: { id: string; workflowId: string };
  payload: unknown;
  steps: Record<string, StepResult>;
  conversation?: ConversationContext;
  files?: ContextFile[];
}

/** What the executor gives a step beside its context: its cancellation and where streamed output goes. */
export interface StepHooks {
  /** Aborted when the run is cancelled: the request in flight is aborted and the step throws RunCancelled. */
  cancelled?: AbortSignal;
  /** Each piece of a streamed (`text/event-stream`) answer, as it arrives. */
  onOutput?: (data: unknown) => void;
}

/** The run was cancelled while the step ran; nothing more is written for it. */
export class RunCancelled extends Error {
  constructor() {
    super('The run was cancelled');
    this.name = 'RunCancelled';
  }
}

export class StepFailed extends Error {
  constructor(
    message: string,
    readonly result: StepResult,
  ) {
    super(message);
    this.name = 'StepFailed';
  }
}

/** Step errors end up in a text column, which cannot hold NUL, and in JSON answers. */
export const storable = (message: string): string => message.replaceAll('\u0000', '\\u0000').toWellFormed();

/** What a definition's check of one step is given: where the step is, and the ids of every step. */
export interface StepCheck {
  /** `steps.<id>`, the prefix of each problem's path. */
  at: string;
  stepIds: readonly string[];
  problems: string[];
}

/**
 * One step type: its fields and their checks (for `validateDefinition`) and its runner (for the
 * executor). Each type is one file of src/workflows/steps/, listed in `STEP_TYPES` (index.ts).
 */
export interface StepType<S extends { type: string; next?: string }> {
  type: S['type'];
  /** Every field a step of this type may have, `type` and `next` included. */
  keys: readonly string[];
  /** Adds the problems of a step's own fields (the shared ones, type and next, are checked by the definition). */
  check(step: Record<string, unknown>, check: StepCheck): void;
  /** The longest the step can take, in seconds (how long a run's file links must last). */
  longestSeconds(step: S): number;
  /**
   * Runs the step; throws StepFailed (with the step's record) when it fails. An http step's request
   * is signed with each of `signingSecrets` (the workflow's current one first).
   */
  run(id: string, step: S, context: RunContext, signingSecrets: readonly string[], hooks: StepHooks): Promise<StepResult>;
}
