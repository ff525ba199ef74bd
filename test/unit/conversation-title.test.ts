import { conversationTitle, TITLE_LENGTH } from '../../src/workflows/workflow.service';
import { FILE_LINK_MARGIN_SECONDS, remainingRunSeconds } from '../../src/workflows/run-files';
import type { WorkflowDefinition } from '../../src/workflows/definition';

describe('conversationTitle: the start of the first input', () => {
  it('takes a string input, or the usual text field of an object, else the JSON', () => {
    expect(conversationTitle('Where is my order?')).toBe('Where is my order?');
    expect(conversationTitle({ n: 1, message: 'Hello there' })).toBe('Hello there');
    expect(conversationTitle({ text: 'first', message: 'second' })).toBe('first');
    expect(conversationTitle({ text: 5, prompt: 'the prompt' })).toBe('the prompt');
    expect(conversationTitle({ a: [1, 2] })).toBe('{"a":[1,2]}');
    expect(conversationTitle(42)).toBe('42');
    expect(conversationTitle(null)).toBe('null');
  });

  it('folds whitespace and control characters (a NUL cannot be stored) and cuts long inputs', () => {
    expect(conversationTitle('  two\n\nlines\u0000and\ta tab  ')).toBe('two lines and a tab');
    expect(conversationTitle('\u0000 \n')).toBe('Conversation');
    const long = conversationTitle('é'.repeat(500));
    expect([...long]).toHaveLength(TITLE_LENGTH);
    expect(long.endsWith('…')).toBe(true);
    // Code points, not UTF-16 units: an emoji is never cut in half.
    const emoji = [...conversationTitle('😀'.repeat(100))];
    expect(emoji.slice(0, -1).every((c) => c === '😀')).toBe(true);
  });
});

describe('remainingRunSeconds: how long a file link handed to a step must work', () => {
  const definition: WorkflowDefinition = {
    name: 'three',
    startStep: 'a',
    steps: {
      a: { type: 'http', url: 'http://127.0.0.1/a', next: 'b', timeoutMs: 30_000 },
      b: { type: 'transform', output: {}, next: 'c' },
      c: { type: 'http', url: 'http://127.0.0.1/c' },
    },
  };

  it('adds the timeouts of the step and of every step after it (10 s by default) to the margin', () => {
    expect(remainingRunSeconds(definition, 'a')).toBe(FILE_LINK_MARGIN_SECONDS + 30 + 10);
    expect(remainingRunSeconds(definition, 'b')).toBe(FILE_LINK_MARGIN_SECONDS + 10);
    expect(remainingRunSeconds(definition, 'c')).toBe(FILE_LINK_MARGIN_SECONDS + 10);
    expect(remainingRunSeconds(definition, 'gone')).toBe(FILE_LINK_MARGIN_SECONDS);
  });
});
