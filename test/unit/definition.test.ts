import { DefinitionError, MAX_HTTP_TIMEOUT_MS, MAX_STEPS, validateDefinition } from '../../src/workflows/definition';
import { thrownBy } from '../support/thrown';

const transform = (extra: Record<string, unknown> = {}) => ({ type: 'transform', output: 1, ...extra });

/** Every problem validateDefinition lists for `definition`. */
const problemsOf = (definition: unknown): string[] => {
  const error = thrownBy(() => validateDefinition(definition));
  expect(error).toBeInstanceOf(DefinitionError);
  return error.problems;
};

describe('validateDefinition: what it accepts', () => {
  it('returns the definition with its name trimmed, and the start step', () => {
    const validated = validateDefinition({
      name: '  notify  ',
      description: 'why',
      startStep: 'a',
      steps: { a: transform({ next: 'b' }), b: transform() },
    });
    expect(validated).toEqual({
      definition: { name: 'notify', description: 'why', startStep: 'a', steps: { a: transform({ next: 'b' }), b: transform() } },
      startStep: 'a',
      startable: true,
      notStartableBecause: null,
    });
  });

  it('accepts every kind of placeholder path and both URL schemes', () => {
    expect(() =>
      validateDefinition({
        name: 'x',
        steps: {
          a: { type: 'http', url: 'https://example.com/hook?x=1', next: 'b', timeoutMs: MAX_HTTP_TIMEOUT_MS },
          b: { type: 'http', url: 'http://127.0.0.1:9/x', timeoutMs: 1, next: 'c' },
          c: transform({
            output: { p: '{{payload}}', q: '{{payload.a.b}}', r: '{{run.id}}', s: '{{steps.a.output.x}}', t: '{{steps.b}}' },
          }),
        },
      }),
    ).not.toThrow();
  });

  it(`accepts ${MAX_STEPS} steps and a step with a null startStep`, () => {
    const steps = Object.fromEntries(Array.from({ length: MAX_STEPS }, (_, i) => [`s${i}`, transform()]));
    expect(validateDefinition({ name: 'x', startStep: null, steps })).toMatchObject({
      startable: false,
      notStartableBecause: 'it has no startStep',
    });
  });
});

describe('validateDefinition: every problem, each with its path', () => {
  it.each([
    ['a missing steps object', { name: 'x' }, ['steps: required, an object of steps keyed by step id']],
    ['steps as an array', { name: 'x', steps: [transform()] }, ['steps: required, an object of steps keyed by step id']],
    ['a name over 200 characters', { name: 'x'.repeat(201), steps: {} }, ['name: required, a string of 1 to 200 characters']],
    ['a blank name', { name: '   ', steps: {} }, ['name: required, a string of 1 to 200 characters']],
    [
      'a startStep that is not a string',
      { name: 'x', startStep: 3, steps: { a: transform() } },
      ['startStep: must be the id of a step (a string)'],
    ],
    ['a step that is not an object', { name: 'x', steps: { a: 'transform' } }, ['steps.a: must be an object with a "type"']],
    ['a step without a type', { name: 'x', steps: { a: { output: 1 } } }, ['steps.a.type: must be "http" or "transform"']],
    [
      'a step of an unknown type',
      { name: 'x', steps: { a: { type: 'script', code: 'x' } } },
      ['steps.a.type: must be "http" or "transform", got "script"'],
    ],
    [
      'a step id "__proto__"',
      JSON.parse('{"name":"x","steps":{"__proto__":{"type":"transform","output":1}}}'),
      ['steps.__proto__: "__proto__" cannot be a step id'],
    ],
    [
      'a step id over 64 characters',
      { name: 'x', steps: { ['a'.repeat(65)]: transform() } },
      [`steps.${'a'.repeat(65)}: a step id is 1 to 64 letters, digits, "_" or "-"`],
    ],
    ['a next that is not a string', { name: 'x', steps: { a: transform({ next: ['b'] }) } }, ['steps.a.next: must be the id of a step']],
    [
      'an ftp URL',
      { name: 'x', steps: { a: { type: 'http', url: 'ftp://host/file' } } },
      ['steps.a.url: required, an absolute http:// or https:// URL'],
    ],
    [
      'an http step without a URL',
      { name: 'x', steps: { a: { type: 'http' } } },
      ['steps.a.url: required, an absolute http:// or https:// URL'],
    ],
    [
      'a placeholder with an empty segment',
      { name: 'x', steps: { a: transform({ output: '{{payload..x}}' }) } },
      ['steps.a.output: "{{payload..x}}" is not a path like payload.x or steps.<id>.output.y'],
    ],
    [
      'a placeholder "steps" without a step id',
      { name: 'x', steps: { a: transform({ output: '{{steps}}' }) } },
      ['steps.a.output: "{{steps}}" names no step'],
    ],
    [
      'a placeholder in a key',
      { name: 'x', steps: { a: transform({ output: { '{{secrets.k}}': 1 } }) } },
      ['steps.a.output: "{{secrets.k}}" must start with payload., steps.<id>., run., conversation. or files.'],
    ],
  ])('%s', (_label, definition, problems) => {
    expect(problemsOf(definition)).toEqual(problems);
  });

  it.each([0, MAX_HTTP_TIMEOUT_MS + 1, 1.5, -5, '1000'])('refuses timeoutMs %j', (timeoutMs) => {
    expect(problemsOf({ name: 'x', steps: { a: { type: 'http', url: 'http://h/', timeoutMs } } })).toEqual([
      `steps.a.timeoutMs: a whole number of milliseconds from 1 to ${MAX_HTTP_TIMEOUT_MS}`,
    ]);
  });

  it(`refuses more than ${MAX_STEPS} steps`, () => {
    const steps = Object.fromEntries(Array.from({ length: MAX_STEPS + 1 }, (_, i) => [`s${i}`, transform()]));
    expect(problemsOf({ name: 'x', steps })).toEqual([`steps: at most ${MAX_STEPS} steps`]);
  });

  it('names a lone surrogate anywhere in the definition, with its path', () => {
    const problems = problemsOf({ name: 'x', steps: { a: transform({ output: { text: 'bad \ud800' } }) } });
    expect(problems).toEqual([
      expect.stringMatching(/^steps\.a\.output\.text is not valid Unicode\b.*: a string holds a lone surrogate \(U\+D800\)/),
    ]);
  });

  it('lists the problems of every step, not only the first, and says them all in the message', () => {
    const error = thrownBy(() =>
      validateDefinition({ name: 'x', steps: { a: { type: 'http', url: 'nope' }, b: { type: 'nope' }, c: transform({ extra: 1 }) } }),
    );
    expect(error.problems).toEqual([
      'steps.a.url: required, an absolute http:// or https:// URL',
      'steps.b.type: must be "http" or "transform", got "nope"',
      'steps.c.extra: unknown field for a transform step (expected type, output, next)',
    ]);
    expect(error.message).toBe(`Invalid workflow definition:\n${error.problems.map((p: string) => `  - ${p}`).join('\n')}`);
  });

  it('refuses something that is no object at all with one problem', () => {
    for (const input of [null, 'x', 5, undefined]) expect(problemsOf(input)).toEqual(['the definition must be a JSON object']);
  });
});

describe('validateDefinition: loops through next', () => {
  it('finds a step that is its own next', () => {
    expect(problemsOf({ name: 'x', steps: { a: transform({ next: 'a' }) } })).toEqual([
      'steps: the steps a → a form a loop through "next"; a run would never end',
    ]);
  });

  it('finds a loop that the start step does not reach, and only the first loop', () => {
    const steps = {
      start: transform(),
      p: transform({ next: 'q' }),
      q: transform({ next: 'p' }),
      r: transform({ next: 's' }),
      s: transform({ next: 'r' }),
    };
    expect(problemsOf({ name: 'x', startStep: 'start', steps })).toEqual([
      'steps: the steps p → q → p form a loop through "next"; a run would never end',
    ]);
  });

  it('finds no loop in a chain that joins another, nor through a next that names no step', () => {
    expect(() =>
      validateDefinition({ name: 'x', steps: { a: transform({ next: 'c' }), b: transform({ next: 'c' }), c: transform() } }),
    ).not.toThrow();
    expect(problemsOf({ name: 'x', steps: { a: transform({ next: 'b' }), b: transform({ next: 'gone' }) } })).toEqual([
      'steps.b.next: names no step ("gone")',
    ]);
  });

  it('reports the loop after the problems of the steps in it', () => {
    expect(problemsOf({ name: 'x', steps: { a: transform({ next: 'b', output: '{{nope}}' }), b: transform({ next: 'a' }) } })).toEqual([
      'steps.a.output: "{{nope}}" must start with payload., steps.<id>., run., conversation. or files.',
      'steps: the steps a → b → a form a loop through "next"; a run would never end',
    ]);
  });
});
