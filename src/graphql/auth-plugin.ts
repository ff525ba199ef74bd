import type { ApolloServerPlugin } from '@apollo/server';
import { DocumentNode, FieldNode, FragmentDefinitionNode, Kind, OperationDefinitionNode, SelectionSetNode } from 'graphql';
import { AppError, ErrorCode } from './errors';
import type { GatewayContext } from './context';

const PUBLIC_ROOT_FIELDS = new Set(['__schema', '__type', '__typename']);

/** Root field names of an operation, looking through fragments (a fragment may not hide a data field). */
function rootFieldNames(
  selectionSet: SelectionSetNode,
  fragments: Record<string, FragmentDefinitionNode>,
  seen = new Set<string>(),
): string[] {
  const names: string[] = [];
  for (const selection of selectionSet.selections) {
    if (selection.kind === Kind.FIELD) names.push((selection as FieldNode).name.value);
    else if (selection.kind === Kind.INLINE_FRAGMENT) names.push(...rootFieldNames(selection.selectionSet, fragments, seen));
    else if (!seen.has(selection.name.value)) {
      seen.add(selection.name.value);
      const fragment = fragments[selection.name.value];
      if (fragment) names.push(...rootFieldNames(fragment.selectionSet, fragments, seen));
    }
  }
  return names;
}

export const missingKeyError = () =>
  new AppError(ErrorCode.UNAUTHENTICATED, 'Missing API key: send the organization API key in the `api-key` header');

/**
 * Refuses (UNAUTHENTICATED) an operation of a request without a key unless it only introspects:
 * the one rule of both HTTP paths (this plugin for Apollo's, src/http/graphql-post.ts).
 */
export function refuseKeylessOperation(operation: OperationDefinitionNode, document: DocumentNode): void {
  const fragments: Record<string, FragmentDefinitionNode> = {};
  for (const def of document.definitions) {
    if (def.kind === Kind.FRAGMENT_DEFINITION) fragments[def.name.value] = def;
  }
  const names = rootFieldNames(operation.selectionSet, fragments);
  if (operation.operation !== 'query' || names.some((n) => !PUBLIC_ROOT_FIELDS.has(n))) {
    throw missingKeyError();
  }
}

/**
 * Requests without a key may introspect (the SDL is public) and nothing else; they get a 401
 * before any resolver runs. Requests with a bad key were already refused while building context.
 */
export function authPlugin(): ApolloServerPlugin<GatewayContext> {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ contextValue, operation, document }) {
          if (contextValue.principal || !operation) return;
          refuseKeylessOperation(operation, document);
        },
      };
    },
  };
}
