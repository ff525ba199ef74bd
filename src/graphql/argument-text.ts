import type { ApolloServerPlugin } from '@apollo/server';
import { ArgumentNode, DocumentNode, FieldNode, Kind, ValueNode, visit } from 'graphql';
import { describeJsonTextProblem, findJsonTextProblem } from '../validation/json-text';
import { badInput } from './errors';

/** Whether `value` (an argument's value, maybe a list or input object) uses `$variable`. */
function usesVariable(value: ValueNode, variable: string): boolean {
  if (value.kind === Kind.VARIABLE) return value.name.value === variable;
  if (value.kind === Kind.LIST) return value.values.some((item) => usesVariable(item, variable));
  if (value.kind === Kind.OBJECT) return value.fields.some((field) => usesVariable(field.value, variable));
  return false;
}

/** The arguments fed by `$variable`, as `{ field, argument }`. */
function argumentsFedBy(document: DocumentNode, variable: string): Array<{ field: string; argument: string }> {
  const found: Array<{ field: string; argument: string }> = [];
  visit(document, {
    Argument(node: ArgumentNode, _key, _parent, _path, ancestors) {
      if (!usesVariable(node.value, variable)) return;
      const field = [...ancestors].reverse().find((a): a is FieldNode => (a as FieldNode).kind === Kind.FIELD);
      found.push({ field: field?.name.value ?? '?', argument: node.name.value });
    },
  });
  return found;
}

/**
 * Refuses, before anything runs, a request whose variables hold a string that is not valid
 * Unicode (a lone surrogate: PostgreSQL's drivers would store U+FFFD in its place, or refuse it)
 * or JSON nested deeper than MAX_JSON_DEPTH: HTTP 400, BAD_USER_INPUT, naming the argument.
 * Literals in the query itself need no check: the GraphQL parser refuses lone surrogates. Every
 * field and argument, present or added later, is covered without a line of its own.
 */
export function checkArgumentText(document: DocumentNode, variables: Record<string, unknown> | null | undefined): void {
  for (const [variable, value] of Object.entries(variables ?? {})) {
    const found = findJsonTextProblem(value, `$${variable}`);
    if (!found) continue;
    // Only now is the document searched for the argument the variable feeds.
    const fed = argumentsFedBy(document, variable);
    const root = fed.length === 1 ? fed[0].argument : `$${variable}`;
    const subject = fed.length ? `Argument "${fed[0].argument}" of ${fed[0].field}` : `Variable $${variable}`;
    const problem = { ...found, at: root + found.at.slice(variable.length + 1) };
    throw badInput(describeJsonTextProblem(subject, root, problem), {
      argument: fed[0]?.argument ?? variable,
    });
  }
}

/** `checkArgumentText` for every HTTP request (websocket subscriptions call it themselves). */
export function argumentTextPlugin(): ApolloServerPlugin {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ request, document }) {
          checkArgumentText(document, request.variables);
        },
      };
    },
  };
}
