import { lookup, renderTemplate, templatePlaceholders } from '../../src/workflows/template';

const context = {
  payload: { n: 3, text: 'hi', flag: false, none: null, list: ['x', { deep: 'y' }], nested: { a: { b: 'c' } } },
  steps: { call: { output: { id: 'r-1' } } },
  run: { id: 'run-1' },
};

describe('templatePlaceholders', () => {
  it('lists every placeholder in document order, in values and in keys, trimmed', () => {
    expect(
      templatePlaceholders({
        '{{payload.k}}': ['{{ payload.a }} and {{payload.b}}', { x: '{{steps.s.output}}' }],
        n: 1,
        t: true,
        z: null,
        plain: 'no placeholder',
      }),
    ).toEqual(['payload.k', 'payload.a', 'payload.b', 'steps.s.output']);
  });

  it('finds nothing in text without complete placeholders', () => {
    expect(templatePlaceholders(['{payload.a}', '{{payload.a', 'payload.a}}', '{{payload.{a}}}', 42, null])).toEqual([]);
  });

  it('lists an empty placeholder as an empty path, for the definition check to refuse', () => {
    expect(templatePlaceholders('{{}} {{ }}')).toEqual(['', '']);
  });
});

describe('lookup', () => {
  it('follows a dotted path through objects and arrays', () => {
    expect(lookup(context, 'payload.n')).toBe(3);
    expect(lookup(context, 'payload.nested.a.b')).toBe('c');
    expect(lookup(context, 'payload.list.1.deep')).toBe('y');
    expect(lookup(context, 'steps.call.output')).toEqual({ id: 'r-1' });
  });

  it('gives undefined for a path that leaves the data, and never reads the prototype', () => {
    for (const path of [
      'payload.missing',
      'payload.n.x',
      'payload.none.x',
      'payload.text.length',
      'payload.toString',
      'payload.__proto__',
      'payload.constructor.name',
      'payload.list.5',
    ]) {
      expect([path, lookup(context, path)]).toEqual([path, undefined]);
    }
  });

  it('keeps falsy values found at the path', () => {
    expect(lookup(context, 'payload.flag')).toBe(false);
    expect(lookup(context, 'payload.none')).toBeNull();
  });
});

describe('renderTemplate', () => {
  it('leaves values without placeholders as they are', () => {
    const template = { a: 1, b: [true, null, 'text', { c: 2.5 }], d: '' };
    expect(renderTemplate(template, context)).toEqual(template);
  });

  it('gives the JSON value of a whole placeholder, null when the path leads nowhere', () => {
    expect(renderTemplate('{{payload.list}}', context)).toEqual(['x', { deep: 'y' }]);
    expect(renderTemplate('{{ payload.flag }}', context)).toBe(false);
    expect(renderTemplate('{{payload.none}}', context)).toBeNull();
    expect(renderTemplate('{{payload.missing}}', context)).toBeNull();
    expect(renderTemplate('{{run.id}}', context)).toBe('run-1');
  });

  it('interpolates placeholders inside text: strings as they are, other values as JSON, missing ones as nothing', () => {
    expect(
      renderTemplate(
        'n={{payload.n}} t={{payload.text}} f={{payload.flag}} o={{payload.nested.a}} m=[{{payload.missing}}] z=[{{payload.none}}]',
        context,
      ),
    ).toBe('n=3 t=hi f=false o={"b":"c"} m=[] z=[]');
  });

  it('renders keys too, as text', () => {
    expect(
      renderTemplate(
        { 'id-{{run.id}}': '{{steps.call.output.id}}', '{{payload.n}}': 'number key', '{{payload.nested}}': 'object key' },
        context,
      ),
    ).toEqual({
      'id-run-1': 'r-1',
      '3': 'number key',
      '{"a":{"b":"c"}}': 'object key',
    });
  });

  it('keeps a "__proto__" key an own key of the output, setting no prototype', () => {
    const rendered = renderTemplate(JSON.parse('{"__proto__": {"polluted": "{{payload.text}}"}, "after": 1}'), context) as Record<
      string,
      unknown
    >;
    expect(Object.getPrototypeOf(rendered)).toBe(Object.prototype);
    expect(Object.keys(rendered)).toEqual(['__proto__', 'after']);
    expect(Object.getOwnPropertyDescriptor(rendered, '__proto__')?.value).toEqual({ polluted: 'hi' });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('does not evaluate a placeholder that looks like code', () => {
    expect(renderTemplate(['{{payload.n * 2}}', '{{payload["text"]}}', 'a{{process.env.HOME}}b'], context)).toEqual([null, null, 'ab']);
  });
});
