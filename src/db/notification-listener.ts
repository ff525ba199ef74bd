import { Client } from 'pg';
import type { Logger } from '../observability/logger';

/** What a subscriber of one channel is told. */
export interface NotificationHandler {
  /** A NOTIFY on the channel, delivered after the notifying transaction committed. */
  onMessage(payload: string): void;
  /**
   * The connection went down (`false`) or is listening again (`true`). Notifications sent while it
   * was down are lost, so a subscriber that caches must drop its cache on `false`, and one that
   * waits for an event must re-read the state it waits for on `true`.
   */
  onConnectionChange?(listening: boolean): void;
}

export interface Subscription {
  /** Resolves true once the channel is LISTENed to (false if the connection is down meanwhile). */
  ready: Promise<boolean>;
  close(): void;
}

const RECONNECT_MS = 1_000;
const RECONNECT_MAX_MS = 30_000;
/** A silently dead connection delivers nothing; a heartbeat notices within seconds. */
const HEARTBEAT_MS = 5_000;
const CHANNEL_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * The process's one LISTEN connection, shared by everything that reacts to another process's
 * commits (the key cache, workflow run updates, cached folder paths). A pooled connection cannot
 * hold LISTEN, so this is a dedicated client; one per process rather than one per feature, so that
 * a process keeps a single extra connection however many features listen.
 *
 * Channels are a small fixed set, each LISTENed to once and for the life of the process;
 * subscribers filter payloads themselves (one channel for all runs, not a channel per run).
 */
export class NotificationListener {
  private readonly handlers = new Map<string, Set<NotificationHandler>>();
  private client: Client | undefined;
  private listening = false;
  private started = false;
  private stopped = false;
  private failures = 0;
  private retry: NodeJS.Timeout | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  /** Channels LISTENed to on the current connection, or the LISTEN in flight. */
  private readonly listened = new Map<string, Promise<boolean>>();
  /** The connection's queries, one after another (pg deprecates overlapping queries on one client). */
  private queries: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly databaseUrl: string,
    private readonly logger?: Logger,
  ) {}

  /** True while the connection is up and every subscribed channel is LISTENed to. */
  get isListening(): boolean {
    return this.listening;
  }

  /** Connects (and keeps reconnecting with backoff while the database is away). Never throws. */
  async start(): Promise<void> {
    this.started = true;
    this.stopped = false;
    await this.connect();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retry);
    clearInterval(this.heartbeat);
    const client = this.client;
    this.client = undefined;
    this.setListening(false);
    await client?.end().catch(() => undefined);
  }

  subscribe(channel: string, handler: NotificationHandler): Subscription {
    if (!CHANNEL_NAME.test(channel)) throw new Error(`not a channel name: ${channel}`);
    let set = this.handlers.get(channel);
    if (!set) this.handlers.set(channel, (set = new Set()));
    set.add(handler);
    const client = this.client;
    const ready = client && this.listening ? this.listenOn(client, channel) : Promise.resolve(false);
    return { ready, close: () => void this.handlers.get(channel)?.delete(handler) };
  }

  private async connect(): Promise<void> {
    const client = new Client({
      connectionString: this.databaseUrl,
      application_name: 'alloy-notifications',
      keepAlive: true,
      query_timeout: HEARTBEAT_MS,
    });
    this.client = client;
    this.listened.clear();
    this.queries = Promise.resolve();
    client.on('notification', (message) => {
      for (const handler of this.handlers.get(message.channel) ?? []) {
        try {
          handler.onMessage(message.payload ?? '');
        } catch (error) {
          this.logger?.error({ err: error, channel: message.channel }, 'notification handler failed');
        }
      }
    });
    const lost = (error?: Error) => {
      if (this.client !== client) return;
      this.client = undefined;
      clearInterval(this.heartbeat);
      this.setListening(false);
      client.end().catch(() => undefined);
      if (this.stopped || !this.started) return;
      if (this.failures++ === 0) this.logger?.warn({ err: error }, 'LISTEN connection lost; reconnecting');
      this.retry = setTimeout(() => void this.connect(), Math.min(RECONNECT_MS * 2 ** (this.failures - 1), RECONNECT_MAX_MS));
      this.retry.unref();
    };
    client.on('error', lost);
    client.on('end', () => lost());
    try {
      await client.connect();
      const results = await Promise.all([...this.handlers.keys()].map((channel) => this.listenOn(client, channel)));
      if (this.client !== client || this.stopped) return;
      if (results.includes(false)) return lost(new Error('LISTEN failed'));
      this.failures = 0;
      this.heartbeat = setInterval(() => this.query(client, 'SELECT 1').catch((error: Error) => lost(error)), HEARTBEAT_MS);
      this.heartbeat.unref();
      this.setListening(true);
    } catch (error) {
      lost(error as Error);
    }
  }

  private listenOn(client: Client, channel: string): Promise<boolean> {
    let done = this.listened.get(channel);
    if (!done) {
      done = this.query(client, `LISTEN ${channel}`).then(
        () => this.client === client,
        () => false,
      );
      this.listened.set(channel, done);
    }
    return done;
  }

  private query(client: Client, text: string): Promise<unknown> {
    const result = this.queries.then(() => client.query(text));
    this.queries = result.catch(() => undefined);
    return result;
  }

  private setListening(listening: boolean): void {
    if (this.listening === listening) return;
    this.listening = listening;
    for (const set of this.handlers.values()) {
      for (const handler of set) handler.onConnectionChange?.(listening);
    }
  }
}
