import { ReaderThread, ThreadUnreadable } from './reader-thread';

/**
 * Text out of the file types people keep knowledge in, with well-kept libraries (no parser of our
 * own): PDF with unpdf (Mozilla's PDF.js, built to run without a browser or canvas), DOCX with
 * mammoth, HTML with html-to-text, each in the reader thread (reader-thread.ts); plain text,
 * Markdown, CSV and JSON are their own text. Bytes in, text out; the caller stores it.
 */

/** The readers, picked by content type or else by the name's extension. */
export type TextFormat = 'plain' | 'html' | 'pdf' | 'docx';

const DOCX = 'application/vnd.openxmlformats-officedocument.wordprocessingml.document';

const BY_TYPE: Record<string, TextFormat> = {
  'text/plain': 'plain',
  'text/markdown': 'plain',
  'text/x-markdown': 'plain',
  'text/csv': 'plain',
  'application/json': 'plain',
  'text/html': 'html',
  'application/xhtml+xml': 'html',
  'application/pdf': 'pdf',
  [DOCX]: 'docx',
};

const BY_EXTENSION: Record<string, TextFormat> = {
  txt: 'plain',
  text: 'plain',
  md: 'plain',
  markdown: 'plain',
  csv: 'plain',
  json: 'plain',
  html: 'html',
  htm: 'html',
  xhtml: 'html',
  pdf: 'pdf',
  docx: 'docx',
};

/** How a file is read, or null when it holds no text we read (images, archives, …). */
export function textFormat(contentType: string, name: string): TextFormat | null {
  const type = contentType.split(';')[0].trim().toLowerCase();
  const byType = BY_TYPE[type];
  if (byType) return byType;
  const extension = /\.([^.]+)$/.exec(name)?.[1].toLowerCase();
  if (extension && BY_EXTENSION[extension]) return BY_EXTENSION[extension];
  // Any other text/* (logs, source code, …) is text as it is.
  return type.startsWith('text/') ? 'plain' : null;
}

/** A file whose bytes its reader refused (a corrupt PDF, a DOCX that is no zip): the reason is logged. */
export class UnreadableFile extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'UnreadableFile';
  }
}

/** UTF-8 (a BOM dropped); bytes that are not UTF-8 become U+FFFD instead of failing the file. */
const decodeUtf8 = (bytes: Buffer) => new TextDecoder('utf-8', { fatal: false }).decode(bytes);

/** The process's one thread for PDF, DOCX and HTML (see reader-thread.ts). */
const readers = new ReaderThread();

/** The file's text; UnreadableFile when its reader refuses the bytes (or takes too long). */
export async function extractText(format: TextFormat, bytes: Buffer): Promise<string> {
  if (format === 'plain') return decodeUtf8(bytes);
  try {
    return await readers.read(format, bytes);
  } catch (error) {
    throw error instanceof ThreadUnreadable ? new UnreadableFile(error.message) : error;
  }
}

/**
 * At most this many characters of a file's text are kept and searched (about 150 pages): a
 * tsvector holds at most 1 MB, and snippets are cut from the kept text at query time.
 */
export const MAX_INDEXED_TEXT_CHARS = 500_000;

/** What Postgres can store and search: no NUL (text columns refuse it), whitespace runs made one, cut at the cap. */
export function indexableText(text: string): string {
  let clean = text
    .replaceAll('\u0000', ' ')
    .replace(/[ \t\f\v\r]+/g, ' ')
    .replace(/ ?\n ?/g, '\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
  if (clean.length > MAX_INDEXED_TEXT_CHARS) {
    clean = clean.slice(0, MAX_INDEXED_TEXT_CHARS);
    // Not half of a surrogate pair at the cut.
    if (/[\ud800-\udbff]$/.test(clean)) clean = clean.slice(0, -1);
  }
  return clean;
}
