/**
 * The bare-uWS baseline of bench/suites/events.ts, run as its own process:
 *   node dist/bench/baselines/uws-fanout.js [--max-backpressure BYTES] [--db FILE]
 *
 * The smallest comparable work per publish, with uWS's own pub/sub:
 *   WS   /api/events/subscribe   every socket subscribes to one topic (the query is ignored);
 *                                compression off, same idle timeout and pings as koor, and a slow
 *                                socket is closed by uWS once it holds more than
 *                                --max-backpressure bytes (closeOnBackpressureLimit)
 *   POST /api/events/publish     body parsed with JSON.parse, `topic` required, an Event JSON of
 *                                koor's shape built in memory (id counter, NOT stored anywhere),
 *                                `app.publish`ed to the topic and sent back as the reply
 *   GET  /api/metrics            {"last_event_id", "events":{"subscribers","closed","closed_codes"}}
 * With --db, each event is stored before it fans out, as koor's are: the publishes gathered while
 * one batch commits go as the next batch to a SQLite writer thread (uws-writer.js: one row
 * per event, WAL, synchronous=FULL); when its commit is acknowledged, the batch is written to each
 * socket under one cork and each publish answered. A minimal durable fan-out in koor's shape:
 * no envelope, no validation, no retention, no per-subscriber queue. Not a floor:
 * koor measured at 1.06-1.07x its deliveries/s, so it shows koor's fan-out carries no excess
 * machinery, not what a server of this shape could reach.
 * Logs `{"api":"127.0.0.1:<port>"}` on stderr once listening (what bench/lib/processes.ts's spawnNode waits for).
 * Loopback only. Refuses to run on the slow JS fallback of uWebSockets.js.
 */
import { Worker } from 'node:worker_threads';
import uWS from 'uWebSockets.js';

const TOPIC = 'events';
const JSON_TYPE = 'application/json';
const MAX_BODY = 10 * 1024 * 1024;

if (typeof (uWS as unknown as { getParts?: unknown }).getParts !== 'function') {
  process.stderr.write('events-baseline: native uWebSockets.js binary not loaded; refusing the slow fallback\n');
  process.exit(1);
}

function flag(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : def;
  if (!Number.isFinite(v) || v <= 0) {
    process.stderr.write(`events-baseline: bad --${name}\n`);
    process.exit(2);
  }
  return v;
}

const maxBackpressure = flag('max-backpressure', 64 * 1024 + 64 * 1024);
const dbAt = process.argv.indexOf('--db');
const dbFile = dbAt >= 0 ? process.argv[dbAt + 1] : undefined;
if (dbAt >= 0 && !dbFile) {
  process.stderr.write('events-baseline: --db needs a file\n');
  process.exit(2);
}

/** Durable mode: an event waiting for its commit. */
interface Pending {
  id: number;
  json: string;
  res: uWS.HttpResponse;
  aborted: () => boolean;
}
let pending: Pending[] = [];
let inFlight: Pending[] | null = null;
/** Durable mode: the open sockets, written to directly. */
const sockets = new Set<uWS.WebSocket<unknown>>();
const writer = dbFile ? new Worker(new URL('./uws-writer.js', import.meta.url), { argv: [dbFile, 'full', 'plain'] }) : null;
if (writer) {
  writer.on('message', (ack: { ok: boolean; error?: string }) => {
    const batch = inFlight!;
    inFlight = null;
    if (ack.ok) {
      // The batch's events to each socket under one cork: one write per socket per commit.
      for (const ws of sockets) {
        ws.cork(() => {
          for (const p of batch) ws.send(p.json, false, false);
        });
      }
    }
    for (const p of batch) {
      if (p.aborted()) continue;
      if (ack.ok) answer(p.res, p.json);
      else fail(p.res, '500 Internal Server Error', ack.error ?? 'commit failed', 500);
    }
    if (pending.length > 0) sendBatch();
  });
  writer.on('error', (err) => {
    process.stderr.write(`events-baseline: writer thread failed: ${String(err)}\n`);
    process.exit(1);
  });
}

/**
 * What waited while the previous batch committed goes over in one message (one row per event,
 * keyed by its zero-padded id: appended at the end of the b-tree, as koor's events are).
 */
function sendBatch(): void {
  inFlight = pending;
  pending = [];
  writer!.postMessage({ keys: inFlight.map((p) => String(p.id).padStart(16, '0')), values: inFlight.map((p) => p.json), hashes: inFlight.map(() => ''), versions: inFlight.map((p) => p.id) });
}

function answer(res: uWS.HttpResponse, json: string): void {
  res.cork(() => {
    res.writeStatus('200 OK');
    res.writeHeader('Content-Type', JSON_TYPE);
    res.end(`${json}\n`);
  });
}

let lastId = 0;
let subscribers = 0;
let closed = 0;
const closedCodes: Record<string, number> = {};

/** Same text shape as koor's created_at (RFC 3339 UTC, whole seconds), refreshed once a second. */
let nowText = `${new Date().toISOString().slice(0, 19)}Z`;
setInterval(() => {
  nowText = `${new Date().toISOString().slice(0, 19)}Z`;
}, 1000).unref();

function fail(res: uWS.HttpResponse, status: string, message: string, code: number): void {
  res.cork(() => {
    res.writeStatus(status);
    res.writeHeader('Content-Type', JSON_TYPE);
    res.end(`${JSON.stringify({ error: message, code })}\n`);
  });
}

const app = uWS.App();

app.ws(`/api/events/subscribe`, {
  compression: 0,
  maxPayloadLength: 4 * 1024,
  idleTimeout: 120,
  sendPingsAutomatically: true,
  maxBackpressure,
  closeOnBackpressureLimit: 1,
  open: (ws) => {
    if (writer) sockets.add(ws);
    else ws.subscribe(TOPIC);
    subscribers++;
  },
  message: () => {},
  close: (ws, code) => {
    sockets.delete(ws);
    subscribers--;
    closed++;
    closedCodes[code] = (closedCodes[code] ?? 0) + 1;
  },
});

app.post('/api/events/publish', (res) => {
  let aborted = false;
  res.onAborted(() => {
    aborted = true;
  });
  const chunks: Buffer[] = [];
  let total = 0;
  res.onData((ab, isLast) => {
    if (aborted) return;
    try {
      total += ab.byteLength;
      if (total > MAX_BODY) {
        aborted = true;
        return fail(res, '413 Payload Too Large', 'body too large', 413);
      }
      if (ab.byteLength > 0) chunks.push(Buffer.from(ab.slice(0)));
      if (!isLast) return;
      let body: { topic?: unknown; data?: unknown; source?: unknown };
      try {
        body = JSON.parse((chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total)).toString('utf8')) as typeof body;
      } catch {
        return fail(res, '400 Bad Request', 'invalid JSON body', 400);
      }
      if (typeof body.topic !== 'string' || body.topic === '') return fail(res, '400 Bad Request', 'topic is required', 400);
      const source = typeof body.source === 'string' ? body.source : '';
      const id = ++lastId;
      const json = `{"id":${id},"topic":${JSON.stringify(body.topic)},"data":${body.data === undefined ? 'null' : JSON.stringify(body.data)},"source":${JSON.stringify(source)},"created_at":"${nowText}"}`;
      if (writer) {
        pending.push({ id, json, res, aborted: () => aborted });
        if (inFlight === null) sendBatch();
        return;
      }
      app.publish(TOPIC, json, false, false);
      answer(res, json);
    } catch (err) {
      fail(res, '500 Internal Server Error', String(err), 500);
    }
  });
});

app.get('/api/metrics', (res) => {
  res.cork(() => {
    res.writeStatus('200 OK');
    res.writeHeader('Content-Type', JSON_TYPE);
    res.end(`${JSON.stringify({ last_event_id: lastId, events: { subscribers, closed, closed_codes: closedCodes, uws_subscribers: app.numSubscribers(TOPIC) } })}\n`);
  });
});

app.any('/*', (res) => fail(res, '404 Not Found', 'not found', 404));

app.listen('127.0.0.1', 0, (socket) => {
  if (!socket) {
    process.stderr.write('events-baseline: cannot listen on 127.0.0.1\n');
    process.exit(1);
  }
  const bound = uWS.us_socket_local_port(socket as unknown as uWS.us_socket);
  process.stderr.write(`${JSON.stringify({ msg: 'events-baseline listening', api: `127.0.0.1:${bound}`, pid: process.pid, maxBackpressure })}\n`);
});

for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => process.exit(0));
