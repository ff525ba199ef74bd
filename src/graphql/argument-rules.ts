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
  const [error] = validateSync(value, { skipMissingProperties: true, forbidUnknownValues: false, stopAtFirstError: true });
  if (!error) return;
  throw badInput(firstBroken(error) ?? `${error.property} is not valid`, { argument: error.property });
}
