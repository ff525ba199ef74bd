/**
 * In-process Google Cloud Storage emulator for tests.
 *
 * Uses the pure-Node `StorageEmulator` class that ships inside firebase-tools
 * (node_modules/firebase-tools/lib/emulator/storage/index.js) WITHOUT the
 * Java-based rules runtime (no jar download, no child process). The GCS JSON
 * API routes (`/b/...`, `/upload/storage/v1/...`, `/:bucket/:object`) served by
 * firebase-tools always use the emulator's *admin* storage layer, so Security
 * Rules are never consulted for @google-cloud/storage traffic anyway.
 *
 * Behaviour:
 *  - Binds 127.0.0.1 on an OS-assigned free port (listen(0), no port race).
 *  - Any bucket name is accepted; buckets are created implicitly on first use.
 *  - Blobs are written to a private mkdtemp() dir (firebase-tools' default,
 *    `$TMPDIR/firebase/storage/blobs`, is shared between instances and is
 *    rm -rf'd on stop), which is removed again by stop().
 *  - State is in memory; it is discarded on stop().
 *
 * Global side effects (the only ones):
 *  - start sets `process.env.STORAGE_EMULATOR_HOST = 'http://127.0.0.1:<port>'`
 *    so that `new Storage()` created AFTER start talks to the emulator
 *    (@google-cloud/storage reads the variable in its constructor).
 *    stop() restores the previous value (or deletes it).
 *  - the instance is registered in firebase-tools' static
 *    `EmulatorRegistry` (key 'storage') while running -- required, because the
 *    emulator builds bucket/object selfLink/mediaLink from it. Hence only ONE
 *    emulator per module registry (per process, or per Jest test file) at a time.
 *  - firebase-tools' module-level singletons (e.g. its winston logger, which has
 *    no transports in-process, so nothing is printed) are loaded via require.
 *
 * Gotchas (verified with @google-cloud/storage 7.22.0):
 *  - preconditions (ifGenerationMatch etc.) are silently IGNORED;
 *  - missing object => ApiError with `code === 404`, message
 *    "No such object: <bucket>/<key>", errors[0].reason === 'notFound';
 *  - bucket.create() => 400, bucket.exists()/getMetadata() => false/404
 *    (no bucket endpoints; just use any bucket name directly);
 *  - resumable uploads work only as a single PUT (no `chunkSize` option);
 *  - v4 signed READ URLs are served but signatures are NOT verified;
 *    signed PUT URLs => 501. Signing itself needs credentials, e.g.
 *    new Storage({ credentials: { client_email, private_key: <local RSA PEM> } }).
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export interface GcsEmulatorHandle {
  host: string;
  port: number;
  stop(): Promise<void>;
}

const FT = 'firebase-tools/lib';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { StorageEmulator } = require(`${FT}/emulator/storage/index.js`) as {
  StorageEmulator: new (args: Record<string, unknown>) => any;
};
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { createApp } = require(`${FT}/emulator/storage/server.js`) as {
  createApp: (projectId: string, emulator: unknown) => Promise<http.RequestListener>;
};
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { EmulatorRegistry } = require(`${FT}/emulator/registry.js`) as {
  EmulatorRegistry: {
    get(name: string): unknown;
    set(name: string, instance: unknown): void;
    clear(name: string): void;
  };
};
const STORAGE = 'storage'; // Emulators.STORAGE in firebase-tools/lib/emulator/types.js

/** Rules manager stand-in: no ruleset, no file watcher, no Java. */
const noRulesManager = {
  start: async () => ({ errors: [], warnings: [], all: [], exist: () => false }),
  stop: async () => undefined,
  getRuleset: () => undefined,
};

class NoRulesStorageEmulator extends (StorageEmulator as new (args: Record<string, unknown>) => any) {
  constructor(args: { projectId: string; host: string; blobDir: string }) {
    // `rules` / `auto_download` are only read by the rules runtime we bypass.
    super({ ...args, port: 0, auto_download: false, rules: undefined });
    // Replace the (unstarted) Java rules runtime so reset()/stop()/replaceRules are inert.
    this._rulesRuntime = { start: async () => undefined, stop: async () => undefined, alive: false };
  }

  // Called from the base constructor (args already set) and from reset().
  getPersistenceTmpDir(): string {
    return this.args.blobDir;
  }

  createRulesManager(): typeof noRulesManager {
    return noRulesManager;
  }

  /** Replacement for StorageEmulator.start(): no rules runtime, awaits bind, port 0. */
  async start(): Promise<void> {
    this._app = await createApp(this.args.projectId, this);
    const server = http.createServer(this._app);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, this.args.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.args.port = (server.address() as AddressInfo).port;
    // Object metadata (selfLink/mediaLink) and bucket creation call
    // EmulatorRegistry.url('storage'), which throws unless an instance is registered.
    EmulatorRegistry.set(STORAGE, this);
    const sockets = new Set<import('node:net').Socket>();
    server.on('connection', (s) => {
      sockets.add(s);
      s.once('close', () => sockets.delete(s));
    });
    this.destroyServer = () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        for (const s of sockets) s.destroy();
      });
  }

  async stop(): Promise<void> {
    if (EmulatorRegistry.get(STORAGE) === this) EmulatorRegistry.clear(STORAGE);
    await this.destroyServer?.();
    await fs.promises.rm(this.args.blobDir, { recursive: true, force: true });
  }
}

export async function startGcsEmulator(): Promise<GcsEmulatorHandle> {
  const host = '127.0.0.1';
  if (EmulatorRegistry.get(STORAGE)) {
    // firebase-tools keeps one storage emulator per module registry (static map).
    throw new Error('startGcsEmulator: a storage emulator is already running in this process; stop() it first');
  }
  const blobDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gcs-emulator-'));
  const emulator = new NoRulesStorageEmulator({ projectId: 'demo-test', host, blobDir });
  try {
    await emulator.start();
  } catch (err) {
    fs.rmSync(blobDir, { recursive: true, force: true });
    throw err;
  }
  const port: number = emulator.args.port;

  const hadPrev = Object.prototype.hasOwnProperty.call(process.env, 'STORAGE_EMULATOR_HOST');
  const prev = process.env.STORAGE_EMULATOR_HOST;
  process.env.STORAGE_EMULATOR_HOST = `http://${host}:${port}`;

  let stopped: Promise<void> | undefined;
  return {
    host,
    port,
    stop() {
      stopped ??= (async () => {
        if (process.env.STORAGE_EMULATOR_HOST === `http://${host}:${port}`) {
          if (hadPrev) process.env.STORAGE_EMULATOR_HOST = prev;
          else delete process.env.STORAGE_EMULATOR_HOST;
        }
        await emulator.stop();
      })();
      return stopped;
    },
  };
}
