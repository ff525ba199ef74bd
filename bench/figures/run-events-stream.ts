import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Client } from 'pg';
import { ChildServer, spawnServer } from '../lib/child';
import { mustQuery } from '../lib/graphql';
import { Figure, fmt, NotApplicable } from './figure';

const SUBSCRIBERS = () => Number(process.env.BENCH_STREAM_RUNS ?? 100);
const PIECES_PER_SECOND = 50;
/** Workers beside the bench's own, each running this many runs at once: every run streams at the same time. */
const WORKERS = 2;
const BIN = path.resolve(__dirname, '..', '..', '..', 'bin', 'alloy.js');

const TRIGGER = 'mutation($id: ID!, $i: Int) { triggerWorkflow(workflowId: $id, payload: { i: $i }) { runId } }';
const FOLLOW = 'subscription($id: ID!) { workflowRunEvents(id: $id) { seq type data at } }';

/** `BENCH_WORKER_CPU_PROF=<dir>` profiles these workers too (bench/run.ts). */
const workerProfileArgs = (): string[] => {
  const dir = process.env.BENCH_WORKER_CPU_PROF;
  return dir ? ['--cpu-prof', '--cpu-prof-dir', path.resolve(dir)] : [];
};

const now = () => performance.timeOrigin + performance.now();

function percentile(sorted: number[], p: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : NaN;
}

/**
 * 100 runs, each an http step whose target streams `text/event-stream` at 50 pieces per second,
 * each followed by a `workflowRunEvents` subscription of its own (one websocket each) on the
 * gateway (`serve --no-worker`); the runs execute in worker processes. The delay of a piece is
 * from the target's write to the subscriber's receipt (one clock: both are this process).
 *
 * The target starts writing once every run has reached it and every subscriber follows its run
 * (has received the run's first events, stored before the step's request): the figure is the
 * delay of followers, and the 100 subscriptions' own start (connect, key, document checks,
 * first read) is reported beside it, in time and gateway CPU. Before, the target started while
 * the subscriptions were still being set up, so the first pieces of most runs also waited for
 * them. The bench process's own event-loop delay during the stream is reported too: receipt times
 * are taken here, so a stalled loop here would show as gateway delay. A one-second round of the
 * same runs and subscribers goes first, unmeasured (warm-up, as the req/s figures have).
 */
export const runEventsStream: Figure = {
  id: 'run-events',
  title: '100 `workflowRunEvents` subscribers, each following one run streaming 50 pieces/s: delay from the target write to receipt',
  target: 'p99 < 250 ms',
  requires: ['Subscription.workflowRunEvents', 'RunEvent.seq'],
  async run(ctx) {
    const runs = SUBSCRIBERS();
    const seconds = Math.max(2, Math.min(ctx.duration, 10));
    const pieces = seconds * PIECES_PER_SECOND;
    /** The round being streamed: how many pieces each run gets, and the gate the target waits at. */
    let round = { pieces, started: Promise.resolve(), arrived: 0, allArrived: () => undefined as void };
    const target = http.createServer((req, res) => {
      req.resume();
      req.on('end', async () => {
        const { pieces: count, started } = round;
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.flushHeaders();
        if (++round.arrived === runs) round.allArrived();
        await started;
        for (let i = 0; i < count && !res.destroyed; i++) {
          res.write(`data: ${JSON.stringify({ i, t: now() })}\n\n`);
          await new Promise((resolve) => setTimeout(resolve, 1000 / PIECES_PER_SECOND));
        }
        res.end(`event: result\ndata: ${JSON.stringify({ pieces: count })}\n\n`);
      });
    });
    await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
    const targetUrl = `http://127.0.0.1:${(target.address() as AddressInfo).port}/stream`;
    const workers: ChildServer[] = [];
    const { createClient } = await import('graphql-ws');
    const { default: WebSocket } = await import('ws');
    const clients: Array<{ dispose(): void | Promise<void> }> = [];
    const db = new Client({ connectionString: ctx.databaseUrl });
    await db.connect();
    try {
      const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'alloy-bench-')), 'workflow.json');
      fs.writeFileSync(
        file,
        JSON.stringify({ name: 'stream', startStep: 'call', steps: { call: { type: 'http', url: targetUrl, timeoutMs: 60_000 } } }),
      );
      const { workflowId } = await ctx.cli<{ workflowId: string }>(['workflow', 'create', '--org', ctx.orgId, '--file', file]);
      for (let w = 0; w < WORKERS; w++) {
        workers.push(
          await spawnServer({
            name: `stream worker ${w}`,
            args: [...workerProfileArgs(), BIN, 'worker'],
            env: {
              DATABASE_URL: ctx.databaseUrl,
              LOG_LEVEL: 'info',
              NODE_ENV: 'production',
              WORKFLOW_CONCURRENCY: String(Math.ceil(runs / WORKERS)),
            },
            ready: /"msg":"(worker started)"/,
          }),
        );
      }
      /**
       * One round: `runs` runs streaming `count` pieces each, every one followed by a subscriber;
       * the target starts writing once all of them follow. What the subscribers saw, and the CPU.
       */
      const streamRound = async (count: number) => {
        let go!: () => void;
        let allArrived!: () => void;
        const everyCall = new Promise<void>((resolve) => (allArrived = resolve));
        round = { pieces: count, started: new Promise<void>((resolve) => (go = resolve)), arrived: 0, allArrived };
        const runIds: string[] = [];
        for (let i = 0; i < runs; i++) {
          runIds.push(
            (await mustQuery<{ triggerWorkflow: { runId: string } }>(ctx.gateway.url, ctx.apiKey, TRIGGER, { id: workflowId, i }))
              .triggerWorkflow.runId,
          );
        }
        const gatewayCpuBeforeSubscribing = ctx.gateway.cpuMs();
        const subscribingSince = now();
        let following = 0;
        let allFollowing!: () => void;
        const everyoneFollows = new Promise<void>((resolve) => (allFollowing = resolve));
        let eventsReceived = 0;
        const delays: number[] = [];
        /** The same delays split at one second after the target started writing: the start-up transient against the steady state. */
        const firstSecond: number[] = [];
        const afterFirstSecond: number[] = [];
        let goAt = Infinity;
        /** From the target's write to the event's commit (its `at`), and from there to receipt. */
        const toStored: number[] = [];
        const toReceived: number[] = [];
        let errors = 0;
        let firstError: string | undefined;
        const finished = runIds.map(
          (id) =>
            new Promise<void>((resolve) => {
              let followsNow = false;
              const client = createClient({
                url: `${ctx.gateway.url.replace(/^http/, 'ws')}/graphql`,
                webSocketImpl: WebSocket,
                connectionParams: { 'api-key': ctx.apiKey },
                retryAttempts: 0,
              });
              clients.push(client);
              client.subscribe<{ workflowRunEvents: { seq: number; type: string; data: any; at: string } }>(
                { query: FOLLOW, variables: { id } },
                {
                  next: (result) => {
                    eventsReceived++;
                    if (!followsNow) {
                      followsNow = true;
                      if (++following === runs) allFollowing();
                    }
                    const event = result.data?.workflowRunEvents;
                    if (event?.type === 'OUTPUT' && typeof event.data?.t === 'number') {
                      const received = now();
                      const stored = new Date(event.at).getTime();
                      delays.push(received - event.data.t);
                      (received - goAt < 1000 ? firstSecond : afterFirstSecond).push(received - event.data.t);
                      toStored.push(stored - event.data.t);
                      toReceived.push(received - stored);
                    }
                  },
                  error: (error) => {
                    errors++;
                    firstError ??= Array.isArray(error)
                      ? JSON.stringify(error)
                      : String((error as { reason?: string; code?: number })?.code ?? error) +
                        ' ' +
                        String((error as { reason?: string })?.reason ?? '');
                    resolve();
                  },
                  complete: () => resolve(),
                },
              );
            }),
        );
        let waiting: NodeJS.Timeout | undefined;
        await Promise.race([
          Promise.all([everyCall, everyoneFollows]),
          new Promise(
            (_, reject) =>
              (waiting = setTimeout(
                () =>
                  reject(
                    new NotApplicable(
                      `only ${round.arrived} of ${runs} runs reached the target and ${following} subscribers followed their run within 60 s (${errors} subscription errors${firstError ? `, the first: ${firstError.slice(0, 200)}` : ''})`,
                    ),
                  ),
                60_000,
              )),
          ),
        ]);
        clearTimeout(waiting);
        const subscribing = `the ${runs} subscriptions, made together, all followed their run ${fmt.ms(now() - subscribingSince)} after the first was sent, ${((ctx.gateway.cpuMs() - gatewayCpuBeforeSubscribing) / runs).toFixed(1)} ms of gateway CPU each (websocket, key, document checks, first read)`;
        const receivedBefore = eventsReceived;
        const benchLoop = monitorEventLoopDelay({ resolution: 10 });
        const cpu = () => ({ gateway: ctx.gateway.cpuMs(), workers: [ctx.worker, ...workers].reduce((sum, w) => sum + w.cpuMs(), 0) });
        const cpuBefore = cpu();
        const benchCpuBefore = process.cpuUsage();
        benchLoop.enable();
        go();
        const t0 = now();
        goAt = t0;
        await Promise.all(finished);
        const elapsed = (now() - t0) / 1000;
        const cpuAfter = cpu();
        const benchCpu = process.cpuUsage(benchCpuBefore);
        benchLoop.disable();
        const streamed = eventsReceived - receivedBefore;
        const cpuNote =
          `CPU meanwhile: gateway ${((cpuAfter.gateway - cpuBefore.gateway) / 1000).toFixed(1)} s (${(((cpuAfter.gateway - cpuBefore.gateway) * 1000) / streamed).toFixed(0)} µs per event sent, ${streamed} events), workers ${((cpuAfter.workers - cpuBefore.workers) / 1000).toFixed(1)} s, ` +
          `bench process (target and subscribers) ${((benchCpu.user + benchCpu.system) / 1e6).toFixed(1)} s, its event-loop delay p99 ${fmt.ms(benchLoop.percentile(99) / 1e6)} max ${fmt.ms(benchLoop.max / 1e6)}`;
        return { runIds, delays, firstSecond, afterFirstSecond, toStored, toReceived, errors, firstError, subscribing, elapsed, cpuNote };
      };
      // A round of one second first, unmeasured: the workers the figure started, the gateway's
      // delivery and this process's clients run their code warm in the measured round, as a
      // gateway and workers that have been up a while do (the first second of a cold round
      // measured 1.5 to 3 times the delays of the rest).
      await streamRound(PIECES_PER_SECOND);
      const measured = await streamRound(pieces);
      const { runIds, delays, toStored, toReceived, errors, firstError, subscribing, elapsed, cpuNote } = measured;
      const { firstSecond, afterFirstSecond } = measured;
      // A commit is one transaction id (xmin) on the rows it wrote; one commit may write several runs' events.
      const { rows } = await db.query(
        `SELECT count(DISTINCT xmin::text)::int AS commits, count(*) FILTER (WHERE type = 'OUTPUT')::int AS outputs
           FROM workflow_run_events WHERE run_id = ANY ($1::uuid[])`,
        [runIds],
      );
      const commits = rows[0].commits / runs;
      const outputs = rows[0].outputs;
      for (const list of [delays, toStored, toReceived, firstSecond, afterFirstSecond]) list.sort((a, b) => a - b);
      const p50 = percentile(delays, 50);
      const p99 = percentile(delays, 99);
      const expected = runs * (pieces + 1);
      return {
        gateway: `p50 ${fmt.ms(p50)}; p99 ${fmt.ms(p99)}; ${commits.toFixed(1)} commits per run`,
        baseline: '—',
        ratio: '—',
        met: p99 < 250 && delays.length === runs * pieces && errors === 0,
        note:
          `run-events: ${runs} runs × ${pieces} pieces (${seconds} s at ${PIECES_PER_SECOND}/s) + a result event, after an unmeasured round of 1 s; ${delays.length} pieces received by the ` +
          `${runs} subscribers (${outputs} of ${expected} OUTPUT events stored, ${errors} subscription errors${firstError ? `, the first: ${firstError.slice(0, 200)}` : ''}) in ${elapsed.toFixed(1)} s; ` +
          `${subscribing}; ${commits.toFixed(1)} commits per run that wrote events (status changes, steps and OUTPUT appends, one commit shared by the runs of a worker) for ${pieces + 1} pieces; ` +
          `runs executed by ${WORKERS} extra \`alloy worker\` processes (WORKFLOW_CONCURRENCY ${Math.ceil(runs / WORKERS)}) beside the bench's own; ${cpuNote}; of the delay, write to commit p50 ${fmt.ms(percentile(toStored, 50))} p99 ${fmt.ms(percentile(toStored, 99))}, commit to receipt p50 ${fmt.ms(percentile(toReceived, 50))} p99 ${fmt.ms(percentile(toReceived, 99))} (ms clocks); pieces received in the stream's first second p50 ${fmt.ms(percentile(firstSecond, 50))} p99 ${fmt.ms(percentile(firstSecond, 99))} (${firstSecond.length}), after it p50 ${fmt.ms(percentile(afterFirstSecond, 50))} p99 ${fmt.ms(percentile(afterFirstSecond, 99))}.`,
      };
    } finally {
      await Promise.all(clients.map((c) => Promise.resolve(c.dispose()).catch(() => undefined)));
      await Promise.all(workers.map((w) => w.stop()));
      await db.end();
      await new Promise<void>((resolve) => target.close(() => resolve()));
      target.closeAllConnections();
    }
  },
};
