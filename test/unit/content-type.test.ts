import { chooseContentType } from '../../src/storage/content-type';

describe('chooseContentType', () => {
  it('keeps the type the client sent, parameters included, only trimmed', () => {
    expect(chooseContentType('text/plain', 'a.bin')).toBe('text/plain');
    expect(chooseContentType('  Text/CSV; charset=utf-8 ', 'a.bin')).toBe('Text/CSV; charset=utf-8');
    expect(chooseContentType('application/vnd.api+json', 'x')).toBe('application/vnd.api+json');
  });

  it('guesses from the name when the type is missing, generic or malformed', () => {
    for (const given of [
      undefined,
      null,
      '',
      '   ',
      'application/octet-stream',
      'Application/Octet-Stream',
      'text',
      'text/',
      '/plain',
      'text/plain/extra',
      'te xt/plain',
      'text/plain\nX-Injected: 1',
    ]) {
      expect([given, chooseContentType(given, 'report.pdf')]).toEqual([given, 'application/pdf']);
    }
  });

  it('falls back to application/octet-stream for a name it cannot place', () => {
    expect(chooseContentType(undefined, 'no-extension')).toBe('application/octet-stream');
    expect(chooseContentType('', 'archive.unknownext')).toBe('application/octet-stream');
    expect(chooseContentType(undefined, 'notes.TXT')).toBe('text/plain');
  });
});
