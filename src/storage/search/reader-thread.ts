import { Worker } from 'node:worker_threads';

/**
 * PDF, DOCX and HTML are read in a worker thread of their own, not on the process's event loop:
 * PDF.js spends most of a second without yielding on a 300-page PDF, which a gateway reading it
 * would answer no request during. One thread per process, made on first use and kept (unref'd, so
 * it never keeps a process alive); a file that takes longer than READ_TIMEOUT_MS ends the thread
 * and fails that file only.
 *
 * The thread's code is JavaScript written here (a worker loads files outside the TypeScript
 * build), and it requires the libraries by the paths this process resolved.
 */
const THREAD_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { extractText, getDocumentProxy } = require(workerData.unpdf);
const mammoth = require(workerData.mammoth);
const { convert } = require(workerData.htmlToText);

class Unreadable extends Error {}

async function pdf(bytes) {
  let doc;
  try {
    // verbosity 0: PDF.js's own warnings ("Indexing all PDF objects") would go to the console.
    doc = await getDocumentProxy(new Uint8Array(bytes), { verbosity: 0, isEvalSupported: false });
  } catch (error) {
    throw new Unreadable('not a readable PDF: ' + error.message);
  }
  try {
    const { text } = await extractText(doc, { mergePages: false });
    return text.join('\\n\\n');
  } catch (error) {
    throw new Unreadable("the PDF's text could not be read: " + error.message);
  } finally {
    await doc.destroy();
  }
}

async function docx(bytes) {
  try {
    return (await mammoth.extractRawText({ buffer: bytes })).value;
  } catch (error) {
    throw new Unreadable('not a readable DOCX: ' + error.message);
  }
}

function html(bytes) {
  return convert(new TextDecoder('utf-8', { fatal: false }).decode(bytes), {
    wordwrap: false,
    // The words people read; link targets and image sources are no knowledge of the page.
    selectors: [
      { selector: 'a', options: { ignoreHref: true } },
      { selector: 'img', format: 'skip' },
    ],
  });
}

const READERS = { pdf, docx, html };

parentPort.on('message', async ({ id, format, bytes }) => {
  try {
    parentPort.postMessage({ id, text: await READERS[format](Buffer.from(bytes)) });
  } catch (error) {
    parentPort.postMessage({ id, error: String(error && error.message), unreadable: error instanceof Unreadable });
  }
});
`;

/** The formats the thread reads. */
export type ThreadFormat = 'pdf' | 'docx' | 'html';

/** Longest a file may take to read; then its thread is ended and the file FAILED. */
export const READ_TIMEOUT_MS = 60_000;

interface Pending {
  resolve(text: string): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

/** What the thread answered for a file it could not read (a corrupt file; not retried). */
export class ThreadUnreadable extends Error {}

export class ReaderThread {
  private worker: Worker | null = null;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;

  constructor(private readonly timeoutMs = READ_TIMEOUT_MS) {}

  read(format: ThreadFormat, bytes: Buffer): Promise<string> {
    const worker = this.start();
    const id = this.nextId++;
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.stop(new ThreadUnreadable(`reading took longer than ${this.timeoutMs / 1000} s`), id);
      }, this.timeoutMs);
      timer.unref();
      this.pending.set(id, { resolve, reject, timer });
      worker.postMessage({ id, format, bytes });
    });
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(THREAD_SOURCE, {
      eval: true,
      workerData: {
        unpdf: require.resolve('unpdf'),
        mammoth: require.resolve('mammoth'),
        htmlToText: require.resolve('html-to-text'),
      },
    });
    worker.on('message', (message: { id: number; text?: string; error?: string; unreadable?: boolean }) => {
      const waiting = this.pending.get(message.id);
      if (!waiting) return;
      this.pending.delete(message.id);
      clearTimeout(waiting.timer);
      if (message.text !== undefined) waiting.resolve(message.text);
      else if (message.unreadable) waiting.reject(new ThreadUnreadable(message.error));
      else waiting.reject(new Error(`reader thread: ${message.error}`));
    });
    // A thread that dies takes the files it was reading with it (retried by their jobs); the next read makes a new one.
    worker.on('error', (error) => this.stop(new Error(`reader thread failed: ${error.message}`)));
    worker.on('exit', (code) => {
      if (this.worker === worker) this.stop(new Error(`reader thread exited with code ${code}`));
    });
    // After the listeners: attaching a 'message' listener refs the thread again.
    worker.unref();
    this.worker = worker;
    return worker;
  }

  /** Ends the thread: `timedOut` gets `error`, every other file being read a retryable error. */
  private stop(error: Error, timedOut?: number): void {
    const worker = this.worker;
    this.worker = null;
    for (const [id, waiting] of this.pending) {
      clearTimeout(waiting.timer);
      waiting.reject(timedOut === undefined || id === timedOut ? error : new Error('reader thread restarted'));
    }
    this.pending.clear();
    void worker?.terminate();
  }
}
