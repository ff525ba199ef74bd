import { getMetadataStorage, validateSync, ValidationError } from 'class-validator';
import { badInput } from './errors';

/** The message of the first broken rule of an argument (or of a field inside it). */
function firstBroken(error: ValidationError): string | null {
  if (error.constraints) {
    const [message] = Object.values(error.constraints);
    if (message) return message;
  }
  for (const child of error.children ?? []) {
    const message = firstBroken(child);
    if (message) return message;
  }
  return null;
}

type ArgumentClass = abstract new (...args: never[]) => unknown;

const ruled = new Map<ArgumentClass, string[]>();

/** The properties of an argument class that carry rules (none for scalars such as Date). */
function ruledProperties(type: ArgumentClass): string[] {
  let names = ruled.get(type);
  if (!names) {
    names = [
      ...new Set(
        getMetadataStorage()
          .getTargetValidationMetadatas(type, '', true, false)
          .map((rule) => rule.propertyName),
      ),
    ];
    ruled.set(type, names);
  }
  return names;
}

/** Argument values of each class that passed its rules (the same `first: 50` of every listing): checked once. */
const passedValues = new Map<ArgumentClass, Set<string>>();
const MAX_PASSED_PER_CLASS = 1_000;

function passedBy(type: ArgumentClass): Set<string> {
  let set = passedValues.get(type);
  if (!set) passedValues.set(type, (set = new Set()));
  return set;
}

/**
 * What the rules of an argument object can depend on, as a string: its own properties when all
 * are primitives (rules are functions of the values alone); null when one is an object or list
 * (an input), which is checked every time.
 */
function passKey(object: Record<string, unknown>): string | null {
  const entries = Object.entries(object);
  for (const [, value] of entries) if (value !== null && typeof value === 'object') return null;
  return JSON.stringify(entries);
}

/**
 * type-graphql's `validateFn`: checks the class-validator decorators of `@ArgsType` (and input)
 * classes before the resolver runs, and refuses a broken rule the way every hand-written check
 * does: BAD_USER_INPUT with the decorator's message, naming the argument. (type-graphql's own
 * validation answers "Argument Validation Error" with the argument only inside a list.)
 */
export function checkArgumentRules(value: unknown): void {
  if (value === null || typeof value !== 'object') return;
  if (Array.isArray(value)) {
    for (const item of value) checkArgumentRules(item);
    return;
  }
  // Like type-graphql: omitted and null arguments are not checked. Most calls give none that has
  // rules (e.g. `downloadUrl` on every file of a listing), so they cost no validation pass.
  const object = value as Record<string, unknown>;
  if (!ruledProperties(object.constructor as ArgumentClass).some((name) => object[name] !== null && object[name] !== undefined)) return;
  const key = passKey(object);
  const passed = key === null ? undefined : passedBy(object.constructor as ArgumentClass);
  if (passed?.has(key!)) return;
  const [error] = validateSync(value, { skipMissingProperties: true, forbidUnknownValues: false, stopAtFirstError: true });
  if (!error) {
    if (passed) {
      if (passed.size >= MAX_PASSED_PER_CLASS) passed.clear();
      passed.add(key!);
    }
    return;
  }
  throw badInput(firstBroken(error) ?? `${error.property} is not valid`, { argument: error.property });
}
