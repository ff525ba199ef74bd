import { DefinitionError, validateDefinition } from '../src/workflows/definition';
import { renderTemplate } from '../src/workflows/template';

const problemsOf = (definition: unknown): string[] => {
  try {
    validateDefinition(definition);
  } catch (error) {
    if (error instanceof DefinitionError) return error.problems;
    throw error;
  }
  return [];
};

describe('workflow definitions', () => {
  it('accepts the contract example and finds its starting step', () => {
    const validated = validateDefinition({
      name: 'notify',
      startStep: 'call',
      steps: {
        call: { type: 'http', url: 'http://127.0.0.1:9000/hook', next: 'shape' },
        shape: { type: 'transform', output: { echo: '{{payload.text}}' } },
      },
    });
    expect(validated).toMatchObject({ startStep: 'call', startable: true, notStartableBecause: null });
  });

  it('stores definitions without a usable startStep as not startable, saying why', () => {
    const steps = { a: { type: 'transform', output: 1 } };
    expect(validateDefinition({ name: 'x', steps })).toMatchObject({
      startable: false,
      startStep: null,
      notStartableBecause: 'it has no startStep',
    });
    expect(validateDefinition({ name: 'x', startStep: 'b', steps }).notStartableBecause).toBe('its startStep "b" names no step');
  });

  it('names each problem with its path', () => {
    expect(problemsOf([])).toEqual(['the definition must be a JSON object']);
    expect(problemsOf({ steps: {} })).toEqual(['name: required, a string of 1 to 200 characters']);
    expect(problemsOf({ name: 'x', extra: 1, steps: { 'bad id!': { type: 'transform', output: 1 } } })).toEqual([
      'extra: unknown field (expected name, startStep, steps, description)',
      'steps.bad id!: a step id is 1 to 64 letters, digits, "_" or "-"',
    ]);
    expect(problemsOf({ name: 'x', steps: { a: { type: 'http', url: 'file:///etc/passwd', method: 'GET' } } })).toEqual([
      'steps.a.method: unknown field for a http step (expected type, url, next, timeoutMs)',
      'steps.a.url: required, an absolute http:// or https:// URL',
    ]);
    expect(problemsOf({ name: 'x', steps: { a: { type: 'transform' } } })).toEqual([
      "steps.a.output: required, the JSON template of the step's output",
    ]);
    expect(problemsOf({ name: 'x', steps: { a: { type: 'transform', output: '{{steps.zz.output}} {{process.env}}' } } })).toEqual([
      'steps.a.output: "{{steps.zz.output}}" names no step ("zz")',
      'steps.a.output: "{{process.env}}" must start with payload., steps.<id>., run., conversation. or files.',
    ]);
  });

  it('refuses loops through next, which would never end', () => {
    const problems = problemsOf({
      name: 'x',
      startStep: 'a',
      steps: {
        a: { type: 'transform', output: 1, next: 'b' },
        b: { type: 'transform', output: 1, next: 'c' },
        c: { type: 'transform', output: 1, next: 'b' },
      },
    });
    expect(problems).toEqual(['steps: the steps b → c → b form a loop through "next"; a run would never end']);
  });

  it('lists a loop together with every other problem of the definition', () => {
    const problems = problemsOf({
      name: '',
      steps: {
        a: { type: 'http', url: 'nope', next: 'b' },
        b: { type: 'transform', output: '{{env.X}}', next: 'a', extra: true },
        c: { type: 'transform', output: 1, next: 'missing' },
        d: { type: 'transform', output: 1, next: 5 },
      },
    });
    expect(problems).toEqual([
      'name: required, a string of 1 to 200 characters',
      'steps.a.url: required, an absolute http:// or https:// URL',
      'steps.b.extra: unknown field for a transform step (expected type, output, next)',
      'steps.b.output: "{{env.X}}" must start with payload., steps.<id>., run., conversation. or files.',
      'steps.c.next: names no step ("missing")',
      'steps.d.next: must be the id of a step',
      'steps: the steps a → b → a form a loop through "next"; a run would never end',
    ]);
  });
});

describe('transform templates', () => {
  const context = {
    payload: { n: 3, name: 'Ada', tags: ['x', 'y'], nested: { ok: true } },
    steps: { call: { output: { id: 'r-1' } } },
    run: { id: 'run-1' },
  };

  it('keeps the JSON type of a whole placeholder and interpolates inside text', () => {
    expect(
      renderTemplate(
        {
          n: '{{payload.n}}',
          tags: '{{ payload.tags }}',
          first: '{{payload.tags.0}}',
          text: '{{payload.name}} has {{payload.n}} {{payload.nested}}',
          id: '{{steps.call.output.id}}',
          keep: [1, true, null],
        },
        context,
      ),
    ).toEqual({ n: 3, tags: ['x', 'y'], first: 'x', text: 'Ada has 3 {"ok":true}', id: 'r-1', keep: [1, true, null] });
  });

  it('evaluates nothing: missing paths are null, and prototype properties are not reachable', () => {
    expect(
      renderTemplate(
        ['{{payload.missing}}', '{{payload.constructor}}', '{{payload.__proto__}}', 'a{{payload.toString}}b', '{{payload.n + 1}}'],
        context,
      ),
    ).toEqual([null, null, null, 'ab', null]);
  });
});
