import type { DocumentNode } from 'graphql';

/**
 * Valid documents are remembered by their text up to this many characters of text in all (a
 * parsed document takes roughly 10 to 20 times its text in memory: about 30 MB, the size of
 * Apollo's own document cache), each of at most MAX_DOCUMENT_CHARS.
 */
const MAX_TOTAL_CHARS = 2_000_000;
const MAX_DOCUMENT_CHARS = 256 * 1024;

/**
 * The parsed documents that passed validation, by query text, as Apollo's document cache does for
 * Apollo's path: validation depends only on the schema and the text, and clients send the same few
 * documents again and again (one instance serves HTTP operations and websocket subscriptions). Parsing and validating took about 0.5 ms of CPU per subscribe warm and 1.5 ms
 * cold, most of the gateway's work when 100 followers subscribe together (BENCHMARKS.md,
 * run-events). Refused documents are not kept. The same document object also lets the cost check
 * reuse its costs (query-limits.ts keys them by document).
 */
export class ValidDocuments {
  private readonly byText = new Map<string, DocumentNode>();
  private totalChars = 0;

  get(query: string): DocumentNode | undefined {
    const document = this.byText.get(query);
    if (document) {
      // Most recently used last: the first entry is the one to drop.
      this.byText.delete(query);
      this.byText.set(query, document);
    }
    return document;
  }

  add(query: string, document: DocumentNode): void {
    if (query.length > MAX_DOCUMENT_CHARS || this.byText.has(query)) return;
    this.totalChars += query.length;
    for (const oldest of this.byText.keys()) {
      if (this.totalChars <= MAX_TOTAL_CHARS) break;
      this.byText.delete(oldest);
      this.totalChars -= oldest.length;
    }
    this.byText.set(query, document);
  }
}
