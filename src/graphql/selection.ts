import { FieldNode, GraphQLResolveInfo, Kind, SelectionSetNode } from 'graphql';

/**
 * Whether the field being resolved selects `name` directly below it (through fragments too), so
 * that a resolver can skip work nobody asked for. Directives are not evaluated: a field under
 * `@skip` counts as selected, which costs the work but never loses an answer.
 */
export function selectsField(info: GraphQLResolveInfo, name: string): boolean {
  const seen = new Set<string>();
  const within = (set: SelectionSetNode | undefined): boolean =>
    !!set?.selections.some((selection) => {
      if (selection.kind === 'Field') return selection.name.value === name;
      if (selection.kind === 'InlineFragment') return within(selection.selectionSet);
      const fragment = selection.name.value;
      if (seen.has(fragment)) return false;
      seen.add(fragment);
      return within(info.fragments[fragment]?.selectionSet);
    });
  return info.fieldNodes.some((node) => within(node.selectionSet));
}

/**
 * The names of the fields a connection's items are read for: selected under `edges { node }` of
 * the field being resolved (through fragments too), `__typename` included. A statement can then
 * read only the columns those fields need.
 */
export function selectedNodeFields(info: GraphQLResolveInfo): Set<string> {
  const names = new Set<string>();
  /** Calls `visit` with each field of `set`, looking through inline fragments and fragment spreads (validation refused cycles). */
  const eachField = (set: SelectionSetNode | undefined, visit: (field: FieldNode) => void): void => {
    for (const selection of set?.selections ?? []) {
      if (selection.kind === Kind.FIELD) visit(selection);
      else if (selection.kind === Kind.INLINE_FRAGMENT) eachField(selection.selectionSet, visit);
      else eachField(info.fragments[selection.name.value]?.selectionSet, visit);
    }
  };
  for (const node of info.fieldNodes) {
    eachField(node.selectionSet, (edges) => {
      if (edges.name.value !== 'edges') return;
      eachField(edges.selectionSet, (item) => {
        if (item.name.value === 'node') eachField(item.selectionSet, (field) => names.add(field.name.value));
      });
    });
  }
  return names;
}
