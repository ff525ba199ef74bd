import { extractText, indexableText, MAX_INDEXED_TEXT_CHARS, textFormat, UnreadableFile } from '../../src/storage/search/extract-text';
import { MAX_QUERY_CHARS, MAX_QUERY_WORDS, queryText, queryWords } from '../../src/storage/search/search';
import { makeDocx, makePdf } from '../support/documents';
import { rejectionOf, thrownBy } from '../support/thrown';
import { ReaderThread, ThreadUnreadable } from '../../src/storage/search/reader-thread';

describe('queryWords and queryText', () => {
  it('splits on everything but letters, digits and marks, and keeps accents and case for Postgres to fold', () => {
    expect(queryWords('Quart  rev')).toEqual(['Quart', 'rev']);
    expect(queryWords("report_2024-final.v2 (draft)'s")).toEqual(['report', '2024', 'final', 'v2', 'draft', 's']);
    expect(queryWords('Zürich café')).toEqual(['Zürich', 'café']);
    // NFC: the decomposed é is one character, as names are stored.
    expect(queryWords('cafe\u0301')).toEqual(['caf\u00e9']);
    expect(queryWords('日本語のファイル。テスト')).toEqual(['日本語のファイル', 'テスト']);
  });

  it('makes tsquery operators, quotes and backslashes separators, never syntax', () => {
    const words = queryWords(`a' & !b | (c:*) <-> d\\ "e"`);
    expect(words).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(queryText(words)).toBe(`'a':* & 'b':* & 'c':* & 'd':* & 'e':*`);
  });

  it('refuses a query without a word, or too long, naming the argument; keeps the first words only', () => {
    for (const query of ['', ' ', '!?', '\u0000', '—']) {
      const error = thrownBy(() => queryWords(query));
      expect(error.extensions).toMatchObject({ code: 'BAD_USER_INPUT', argument: 'query' });
    }
    expect(thrownBy(() => queryWords('x'.repeat(MAX_QUERY_CHARS + 1))).message).toMatch(/at most 256/);
    expect(queryWords(Array.from({ length: 40 }, (_, i) => `w${i}`).join(' '))).toHaveLength(MAX_QUERY_WORDS);
  });
});

describe('textFormat', () => {
  it('reads by content type, else by extension; other types are not text', () => {
    expect(textFormat('application/pdf', 'x.bin')).toBe('pdf');
    expect(textFormat('application/octet-stream', 'Report.PDF')).toBe('pdf');
    expect(textFormat('application/vnd.openxmlformats-officedocument.wordprocessingml.document', 'a')).toBe('docx');
    expect(textFormat('text/html; charset=utf-8', 'a')).toBe('html');
    expect(textFormat('text/markdown', 'a')).toBe('plain');
    expect(textFormat('application/json', 'a')).toBe('plain');
    expect(textFormat('text/x-log', 'server.log')).toBe('plain');
    expect(textFormat('application/octet-stream', 'notes.md')).toBe('plain');
    expect(textFormat('image/png', 'logo.png')).toBeNull();
    expect(textFormat('application/zip', 'a.zip')).toBeNull();
  });
});

describe('extractText', () => {
  it('reads a PDF and a DOCX made by libraries', async () => {
    const pdf = await makePdf([['First page words.'], ['Second page: Übersicht.']]);
    const text = await extractText('pdf', pdf);
    expect(text).toContain('First page words.');
    expect(text).toContain('Second page: Übersicht.');
    expect(await extractText('docx', await makeDocx(['One paragraph.', 'Another one & more.']))).toMatch(
      /One paragraph\.\s+Another one & more\./,
    );
  });

  it('says why it cannot read a corrupt PDF or a DOCX that is no zip', async () => {
    await expect(extractText('pdf', Buffer.from('%PDF-1.4 nothing else'))).rejects.toBeInstanceOf(UnreadableFile);
    await expect(extractText('pdf', Buffer.from('not a pdf'))).rejects.toThrow(/PDF/);
    await expect(extractText('docx', Buffer.from('PK not a zip'))).rejects.toThrow(/DOCX/);
  });

  it('takes the words of HTML, not its markup, scripts, styles or link targets', async () => {
    const text = await extractText(
      'html',
      Buffer.from('<style>p{color:red}</style><script>var hidden = 1</script><p>Seen <a href="https://x.example/target">here</a></p>'),
    );
    expect(text).toBe('Seen here');
  });

  it('decodes bytes that are not UTF-8 instead of failing', async () => {
    expect(await extractText('plain', Buffer.from([0x61, 0xff, 0x62]))).toBe('a\ufffdb');
  });
});

describe('indexableText', () => {
  it('drops NUL (Postgres text refuses it) and folds runs of blanks', () => {
    expect(indexableText('a\u0000b  \t c\r\n\n\n\nd ')).toBe('a b c\n\nd');
  });

  it('cuts at the cap, never inside a surrogate pair', () => {
    const text = 'x'.repeat(MAX_INDEXED_TEXT_CHARS - 1) + '😀 tail';
    const cut = indexableText(text);
    expect(cut.length).toBe(MAX_INDEXED_TEXT_CHARS - 1);
    expect(cut.endsWith('x')).toBe(true);
    expect(indexableText('y'.repeat(MAX_INDEXED_TEXT_CHARS + 10))).toHaveLength(MAX_INDEXED_TEXT_CHARS);
  });
});

describe('ReaderThread', () => {
  it('fails a file that takes too long (ending its thread); other threads read on', async () => {
    const pages = Array.from({ length: 200 }, (_, p) => Array.from({ length: 30 }, (_, l) => `page ${p} line ${l} of a long report`));
    const long = await makePdf(pages);
    const thread = new ReaderThread(1);
    const error = await rejectionOf(() => thread.read('pdf', long));
    expect(error).toBeInstanceOf(ThreadUnreadable);
    expect(error.message).toMatch(/took longer than/);
    // Other threads (the process's own, for the next files) read on.
    const patient = new ReaderThread();
    expect(await patient.read('docx', await makeDocx(['after the timeout']))).toContain('after the timeout');
    expect(await patient.read('html', Buffer.from('<p>fine</p>'))).toBe('fine');
  });
});
