import { DocumentNode, execute, ExecutionResult, getIntrospectionQuery, GraphQLError, Kind, parse } from 'graphql';
import { gatewaySchema } from '../../src/app/schema';
import { CompiledExecution } from '../../src/graphql/compiled-execution';
import { appErrorIn } from '../../src/graphql/errors';
import { missingKeyError } from '../../src/graphql/auth-plugin';
import { createLogger } from '../../src/observability/logger';

/**
 * The compiled executor against graphql-js on the gateway's own schema: the same answers, errors
 * included (as JSON, and as the objects Apollo and our masking read: cause, extensions, nodes).
 * Every HTTP and websocket test of the suite runs through it as well; these pin down the
 * differences graphql-jit has on its own (error objects, variable coercion).
 */
describe('compiled execution', () => {
  const principal = { organizationId: '00000000-0000-4000-8000-000000000001', organizationName: 'Compiled', keyId: 'k' };
  // As the edge's context: its organization scope (whose `organization` is what `organization`
  // answers) is refused with the auth plugin's error when the request has no key.
  const context = (withKey: boolean) => ({
    principal: withKey ? principal : null,
    loaders: new Map(),
    services: {},
    get org() {
      if (!withKey) throw missingKeyError();
      return { organization: { id: principal.organizationId, name: principal.organizationName } };
    },
  });

  async function both(query: string, variables: Record<string, unknown> = {}, withKey = true) {
    const schema = await gatewaySchema();
    const execution = new CompiledExecution(schema, createLogger('silent'));
    const document: DocumentNode = parse(query);
    const args = { schema, document, variableValues: variables };
    const reference = (await execute({ ...args, contextValue: context(withKey) })) as ExecutionResult;
    const compiled = await execution.execute({ ...args, contextValue: context(withKey) });
    return { reference, compiled, execution, document };
  }

  // What a field's error carries; not its AST `nodes`, which graphql-jit does not keep and nothing
  // reads (Apollo and the websocket read them for variable errors only, which stay graphql-js's).
  const errorObjects = (result: ExecutionResult) =>
    (result.errors ?? []).map((error) => ({
      isGraphQLError: error instanceof GraphQLError,
      extensions: error.extensions,
      cause: error.originalError?.constructor.name,
      code: appErrorIn(error)?.code,
      json: error.toJSON(),
    }));

  it('compiles the operation and answers introspection as graphql-js does', async () => {
    const { reference, compiled, execution, document } = await both(getIntrospectionQuery());
    expect(execution.isCompiled(document)).toBe(true);
    expect(reference.errors).toBeUndefined();
    expect(JSON.stringify(compiled)).toBe(JSON.stringify(reference));
  });

  it('answers data fields as graphql-js does', async () => {
    const { reference, compiled, execution, document } = await both('{ organization { id name __typename } }');
    expect(execution.isCompiled(document)).toBe(true);
    expect(compiled).toEqual({ data: { organization: { id: principal.organizationId, name: 'Compiled', __typename: 'Organization' } } });
    expect(JSON.stringify(compiled)).toBe(JSON.stringify(reference));
  });

  it("gives a resolver's application error the same shape, path, location and cause", async () => {
    const { reference, compiled } = await both('query Who { organization { id } }', {}, false);
    expect(compiled.data).toBeNull();
    expect(errorObjects(compiled)).toEqual(errorObjects(reference));
    expect(errorObjects(compiled)[0]).toMatchObject({ isGraphQLError: true, cause: 'AppError', code: 'UNAUTHENTICATED' });
    expect(compiled.errors![0].path).toEqual(['organization']);
  });

  it('refuses variables that do not fit their types with graphql-js own errors (what Apollo answers as BAD_USER_INPUT)', async () => {
    const query = 'query Page($first: Int, $after: String!) { workflows(first: $first, after: $after) { totalCount } }';
    const { reference, compiled } = await both(query, { first: 'ten' });
    expect(compiled.data).toBeUndefined();
    expect(errorObjects(compiled)).toEqual(errorObjects(reference));
    expect(compiled.errors!.map((e) => e.nodes?.[0]?.kind)).toEqual([Kind.VARIABLE_DEFINITION, Kind.VARIABLE_DEFINITION]);
  });
});
