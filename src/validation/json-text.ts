/**
 * Checks on JSON values (payloads, inputs, any variable) before they reach the database: every
 * string and object key must be valid Unicode, and nesting must stay shallow enough for the
 * recursive code that handles the value later (JSON.stringify, PostgreSQL's json parser).
 */

/** Deepest nesting accepted in a JSON value; a payload is data, not a linked list. */
export const MAX_JSON_DEPTH = 100;

export type JsonTextProblem =
  /** `at` is a path from the root: `payload.items[2].name`; `unit` the unpaired surrogate, as `U+D800`. */
  { kind: 'lone-surrogate'; at: string; inKey: boolean; unit: string } | { kind: 'too-deep'; at: string };

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

const child = (path: string, key: string | number): string =>
  typeof key === 'number' ? `${path}[${key}]` : IDENTIFIER.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;

/** The first unpaired surrogate of a string that is not well-formed, as `U+D800`. */
function loneSurrogate(text: string): string {
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    const high = unit >= 0xd800 && unit <= 0xdbff;
    const next = text.charCodeAt(i + 1);
    if (high && next >= 0xdc00 && next <= 0xdfff) i++;
    else if (high || (unit >= 0xdc00 && unit <= 0xdfff)) return `U+${unit.toString(16).toUpperCase()}`;
  }
  return '';
}

const isPlainObject = (value: object): boolean => {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
};

/**
 * The first problem of `value` in document order (walked without recursion, so any depth is
 * safe), or null. Only strings, arrays and plain objects are looked into: anything else (an
 * upload, a number) holds no text.
 */
export function findJsonTextProblem(value: unknown, root: string, maxDepth = MAX_JSON_DEPTH): JsonTextProblem | null {
  const pending: Array<{ value: unknown; at: string; depth: number }> = [{ value, at: root, depth: 0 }];
  while (pending.length) {
    const { value: current, at, depth } = pending.pop()!;
    if (typeof current === 'string') {
      if (!current.isWellFormed()) return { kind: 'lone-surrogate', at, inKey: false, unit: loneSurrogate(current) };
      continue;
    }
    if (current === null || typeof current !== 'object') continue;
    const array = Array.isArray(current);
    if (!array && !isPlainObject(current)) continue;
    if (depth >= maxDepth) return { kind: 'too-deep', at };
    const entries: Array<[string | number, unknown]> = array ? (current as unknown[]).map((item, i) => [i, item]) : Object.entries(current);
    // Last child first onto the stack, so that the first problem in document order is found first.
    for (let i = entries.length - 1; i >= 0; i--) {
      const [key, item] = entries[i];
      if (typeof key === 'string' && !key.isWellFormed())
        return { kind: 'lone-surrogate', at: child(at, key), inKey: true, unit: loneSurrogate(key) };
      pending.push({ value: item, at: child(at, key), depth: depth + 1 });
    }
  }
  return null;
}

/** The problem as a sentence about `subject` (e.g. `Argument "payload" of triggerWorkflow`), whose value is at `root`. */
export function describeJsonTextProblem(subject: string, root: string, problem: JsonTextProblem): string {
  if (problem.kind === 'too-deep') return `${subject} is nested more than ${MAX_JSON_DEPTH} levels deep, the most a JSON value may be`;
  const where = problem.at === root ? '' : ` at ${problem.at}`;
  return (
    `${subject} is not valid Unicode${where}: ${problem.inKey ? 'an object key' : 'a string'} holds a lone surrogate ` +
    `(${problem.unit}), half of a UTF-16 pair, which no UTF-8 text can carry`
  );
}
