import { graphql } from './graphql';

/** The gateway's root and object fields as `Type.field`, read by introspection at run time. */
export async function schemaFields(url: string): Promise<Set<string>> {
  const answer = await graphql<{ __schema: { types: Array<{ name: string; fields: Array<{ name: string }> | null }> } }>(
    url,
    undefined,
    '{ __schema { types { name fields { name } } } }',
  );
  if (!answer.data) throw new Error(`introspection failed: ${JSON.stringify(answer.errors)}`);
  const fields = new Set<string>();
  for (const type of answer.data.__schema.types) {
    for (const field of type.fields ?? []) fields.add(`${type.name}.${field.name}`);
  }
  return fields;
}
