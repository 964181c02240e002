/**
 * The bare-uWS baseline of bench/suites/http.ts, run as its own process:
 *   node dist/bench/baselines/uws.js [port]
 *
 * Serves the state routes the benchmark drives with the smallest comparable work per request:
 *   GET /api/state/{key...}  value from a Map; Content-Type, ETag, X-Koor-Version like koor;
 *                            304 with ETag only when If-None-Match matches; 404 JSON if absent
 *   PUT /api/state/{key...}  body into the Map (memory only, NOT durable), sha256 ETag, and a
 *                            small JSON reply with the same fields and headers as koor's
 * With a second argument, a SQLite file, PUT is durable instead — the floor of any server that
 * answers PUT from uWS after SQLite has it on disk: the PUTs that arrive in one event-loop turn
 * are upserted in one WAL transaction (in this thread: no hop, no versions history, no auth) and
 * answered after its COMMIT; synchronous=FULL (fsync before the reply) unless `normal` is given.
 * With `thread`, the transactions run in a worker thread instead (the shape koor is built to: one
 * SQLite writer thread behind the uWS thread): the PUTs gathered while one batch commits go over
 * as the next batch in one message, answered when its acknowledgement comes back.
 * With `features` after `thread`, the writer thread stores what a koor PUT must keep, in koor's
 * tables (version log, current row, change log, audit, history retention: uws-writer.ts).
 *   node dist/bench/baselines/uws.js [port] [sqlite-file [full|normal [thread [features]]]]
 * With `read` after the file, GET reads through a cache bounded like koor's (koor's default budget
 * unless bytes are given, entries counted as koor counts them): a miss reads the value, its hash and
 * version from the file's `kv` table (one row per key, WAL, mapped like koor's reader, the misses of
 * a turn in one read transaction as koor's: src/backend/reads.ts turnSnapshot), and the value
 * goes into the cache while it has room, and never evicts. The floor of any server answering
 * reads of more keys than its cache holds: a map lookup, and on a miss one SQLite point read.
 * The file is filled beforehand (kv: key, value, hash, version); PUT is refused.
 *   node dist/bench/baselines/uws.js [port] sqlite-file read [cache-bytes [rows]]
 * With `rows`, the file is a koor data file and a miss runs koor's own statement for a key's
 * current value (src/domains/state/reader.ts: the state row joined to its value's row of the
 * version log, seven columns), honours its expiry, caches no ephemeral key, and the reply also
 * carries X-Koor-Revision: the floor of a GET that reads what koor's does, beside the
 * floor of one that reads a plain key-value table.
 * With `thread`, POST /api/txn also answers the one transaction bench/suites/peers.ts's `cas` row sends
 * (compare a key's version; put a JSON value on success; get it on failure), as koor decides it:
 * a compare that fails against what is committed is answered at once with the current value, one
 * that holds goes to the writer thread, and another that holds for the same version while it is
 * there waits for its outcome (then loses). The floor of contended compare-and-set in koor's shape
 * (uWS thread + writer thread; with `features`, koor's rows), without routing, auth, validation
 * or envelopes.
 * GET /stats answers {"hits","misses"} of the read cache.
 * Logs `{"api":"127.0.0.1:<port>"}` on stderr once listening (the line spawnNode waits for).
 * Loopback only. Refuses to run on the slow JS fallback of uWebSockets.js.
 */
// The server's V8 flags (src/v8-tuning.ts): a floor runs on the same VM settings as koor.
import '../../src/v8-tuning.js';
import { createHash } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import uWS from 'uWebSockets.js';
import { defaultConfig } from '../../src/config.js';
import { STATE_CACHE_ENTRY_OVERHEAD_BYTES } from '../../src/shared/limits.js';
import { CURRENT } from '../../src/domains/state/reader.js';
import { turnSnapshot, type TurnSnapshot } from '../../src/backend/reads.js';
import { wireText as wire } from '../../src/http/reply.js';
import { answerPut, fail, JSON_TYPE, keyOf, sendJson, type Entry } from './uws-replies.js';

const MAX_BODY = 10 * 1024 * 1024;

if (typeof (uWS as unknown as { getParts?: unknown }).getParts !== 'function') {
  process.stderr.write('baseline-uws: native uWebSockets.js binary not loaded; refusing the slow fallback\n');
  process.exit(1);
}

const map = new Map<string, Entry>();

/** The durable mode's group commit: PUTs wait in `pending` until the turn's transaction commits. */
interface Pending {
  key: string;
  entry: Entry;
  res: uWS.HttpResponse;
  aborted: () => boolean;
  body: string;
  /** A transaction's own answer once its batch committed or failed (answerPut when absent). */
  committed?: (ok: boolean, error?: string) => void;
}
const dbFile = process.argv[3];
let pending: Pending[] = [];
let commit: ((batch: Pending[]) => void) | null = null;
/** Thread mode: the writer thread, and whether a batch is with it. */
let writer: Worker | null = null;
let inFlight: Pending[] | null = null;
/** Read mode: the cache's budget and use, the file's point read, and hit counts. */
const readMode = dbFile !== undefined && process.argv[4] === 'read';
const cacheBudget = process.argv[5] === undefined ? defaultConfig().cacheBytes : Number(process.argv[5]);
let cacheBytes = 0;
let readOne: Database.Statement | null = null;
/** Read mode: a turn's misses in one read transaction (its WAL read lock taken once), as koor's reader. */
let snapshot: TurnSnapshot | null = null;
/** `rows`: koor's file and statement (columns as an array, as koor's reader reads them). */
const readRows = readMode && process.argv[6] === 'rows';
const stats = { hits: 0, misses: 0 };
if (readMode) {
  if (!Number.isFinite(cacheBudget) || cacheBudget < 0) {
    process.stderr.write('baseline-uws: bad cache-bytes\n');
    process.exit(2);
  }
  // In WAL mode with a read-write connection open beside the reader, as in koor (its writer
  // thread's): a read transaction then takes its locks in shared memory. The rollback journal
  // would cost each read a hot-journal check and file locks, ~4 µs of system time more.
  const keep = new Database(dbFile, { fileMustExist: true });
  keep.pragma('journal_mode = WAL');
  const db = new Database(dbFile, { readonly: true, fileMustExist: true });
  db.pragma('mmap_size = 1073741824');
  readOne = readRows ? db.prepare(CURRENT.sqlite).raw(true) : db.prepare('SELECT value, hash, version FROM kv WHERE key = ?');
  snapshot = turnSnapshot(db);
} else if (dbFile && process.argv[5] === 'thread') {
  writer = new Worker(new URL('./uws-writer.js', import.meta.url), { argv: [dbFile, process.argv[4] ?? 'full', process.argv[6] ?? 'plain'] });
  writer.on('message', (ack: { ok: boolean; error?: string }) => {
    const batch = inFlight!;
    inFlight = null;
    for (const p of batch) {
      if (p.committed) p.committed(ack.ok, ack.error);
      else if (p.aborted()) continue;
      else if (ack.ok) answerPut(p.res, p.entry, p.body);
      else fail(p.res, '500 Internal Server Error', ack.error ?? 'commit failed', 500);
    }
    if (pending.length > 0) send();
  });
  writer.on('error', (err) => {
    process.stderr.write(`baseline-uws: writer thread failed: ${String(err)}\n`);
    process.exit(1);
  });
} else if (dbFile) {
  const db = new Database(dbFile);
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${process.argv[4] === 'normal' ? 'NORMAL' : 'FULL'}`);
  db.exec('CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value BLOB NOT NULL, hash TEXT NOT NULL, version INTEGER NOT NULL)');
  const upsert = db.prepare('INSERT INTO kv (key, value, hash, version) VALUES (?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value, hash = excluded.hash, version = excluded.version');
  commit = db.transaction((batch: Pending[]) => {
    for (const p of batch) upsert.run(p.key, p.entry.value, p.entry.hash, p.entry.version);
  }).immediate;
}

/** Thread mode: what waited while the previous batch committed goes over in one message. */
function send(): void {
  inFlight = pending;
  pending = [];
  writer!.postMessage({ keys: inFlight.map((p) => p.key), values: inFlight.map((p) => p.entry.value), hashes: inFlight.map((p) => p.entry.hash), versions: inFlight.map((p) => p.entry.version) });
}

function flush(): void {
  const batch = pending;
  pending = [];
  try {
    commit!(batch);
  } catch (err) {
    for (const p of batch) if (!p.aborted()) fail(p.res, '500 Internal Server Error', String(err), 500);
    return;
  }
  for (const p of batch) if (!p.aborted()) answerPut(p.res, p.entry, p.body);
}

/** The cached entry, or in read mode the file's row (cached while the budget has room). */
function lookup(key: string): Entry | undefined {
  const e = map.get(key);
  if (e !== undefined || readOne === null) {
    if (e) stats.hits++;
    return e;
  }
  stats.misses++;
  snapshot!.enter();
  if (readRows) return lookupRow(key);
  const row = readOne.get(key) as { value: Buffer; hash: string; version: number } | undefined;
  if (!row) return undefined;
  const entry: Entry = { value: row.value, version: row.version, versionText: String(row.version), hash: row.hash, etag: `"${row.hash}"`, contentType: JSON_TYPE };
  cacheWhileRoom(key, entry);
  return entry;
}

/** `rows`: a miss read as koor reads it (value, version, hash, content_type, revision, expires_at, owner). */
function lookupRow(key: string): Entry | undefined {
  const c = readOne!.get(key) as [Buffer, number, string, string, number, number, string] | undefined;
  if (!c || (c[5] > 0 && c[5] <= Date.now())) return undefined;
  const entry: Entry = { value: c[0], version: c[1], versionText: String(c[1]), hash: c[2], etag: `"${c[2]}"`, contentType: c[3], revisionText: String(c[4]) };
  if (c[6] === '') cacheWhileRoom(key, entry);
  return entry;
}

/** Into the cache while the budget has room (never evicting). */
function cacheWhileRoom(key: string, entry: Entry): void {
  const size = entry.value.byteLength + key.length + STATE_CACHE_ENTRY_OVERHEAD_BYTES;
  if (cacheBytes + size <= cacheBudget) {
    map.set(key, entry);
    cacheBytes += size;
  }
}

const app = uWS.App();

app.get('/stats', (res) => {
  res.cork(() => {
    res.writeHeader(wire('Content-Type'), wire(JSON_TYPE));
    res.end(JSON.stringify(stats));
  });
});

app.get('/api/state/*', (res, req) => {
  try {
    const key = keyOf(req.getUrl());
    const inm = req.getHeader('if-none-match');
    if (key === null) return fail(res, '400 Bad Request', 'bad key', 400);
    const e = lookup(key);
    if (!e) return fail(res, '404 Not Found', `key not found: ${key}`, 404);
    res.cork(() => {
      if (inm === e.etag) {
        res.writeStatus(wire('304 Not Modified'));
        res.writeHeader(wire('ETag'), e.etag);
        res.endWithoutBody(0);
        return;
      }
      res.writeStatus(wire('200 OK'));
      res.writeHeader(wire('Content-Type'), wire(e.contentType));
      res.writeHeader(wire('ETag'), e.etag);
      res.writeHeader(wire('X-Koor-Version'), e.versionText);
      if (e.revisionText !== undefined) res.writeHeader(wire('X-Koor-Revision'), e.revisionText);
      res.end(e.value);
    });
  } catch (err) {
    fail(res, '500 Internal Server Error', String(err), 500);
  }
});

app.put('/api/state/*', (res, req) => {
  let aborted = false;
  res.onAborted(() => {
    aborted = true;
  });
  try {
    const key = keyOf(req.getUrl());
    if (readMode) return fail(res, '405 Method Not Allowed', 'read mode: the file is filled beforehand', 405);
    const contentType = req.getHeader('content-type') || JSON_TYPE;
    const chunks: Buffer[] = [];
    let total = 0;
    res.onData((ab, isLast) => {
      if (aborted) return;
      try {
        total += ab.byteLength;
        if (total > MAX_BODY) {
          aborted = true;
          return fail(res, '413 Payload Too Large', 'request body too large', 413);
        }
        if (ab.byteLength > 0) chunks.push(Buffer.from(ab.slice(0)));
        if (!isLast) return;
        if (key === null) return fail(res, '400 Bad Request', 'bad key', 400);
        const value = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total);
        if (value.length === 0) return fail(res, '400 Bad Request', 'empty body', 400);
        const hash = createHash('sha256').update(value).digest('hex');
        const version = (map.get(key)?.version ?? 0) + 1;
        const entry: Entry = { value, version, versionText: String(version), hash, etag: `"${hash}"`, contentType };
        map.set(key, entry);
        // Written as koor writes its PUT reply (src/domains/state/reply-json.ts): the hash spliced.
        const body = `{"key":${JSON.stringify(key)},"version":${version},"hash":"${hash}","content_type":${JSON.stringify(contentType)},"updated_at":"${new Date().toISOString().slice(0, 19)}Z"}\n`;
        if (writer) {
          pending.push({ key, entry, res, aborted: () => aborted, body });
          if (inFlight === null) send();
          return;
        }
        if (!commit) return answerPut(res, entry, body);
        if (pending.length === 0) setImmediate(flush);
        pending.push({ key, entry, res, aborted: () => aborted, body });
      } catch (err) {
        fail(res, '500 Internal Server Error', String(err), 500);
      }
    });
  } catch (err) {
    fail(res, '500 Internal Server Error', String(err), 500);
  }
});

/** The transaction of the cas row: compare one key's version, put on success, get on failure. */
interface CasTxn {
  compare: Array<{ key: string; version: number }>;
  success: Array<{ op: 'put'; key: string; value: unknown }>;
  failure: Array<{ op: 'get'; key: string }>;
}
/** Transactions with the writer, by `key NUL version`: those waiting for their outcome. */
const gates = new Map<string, Array<() => void>>();

/** Decides `t` against what is committed (the map holds committed values only for transactions). */
function decide(res: uWS.HttpResponse, aborted: () => boolean, t: CasTxn): void {
  if (aborted()) return;
  const c = t.compare[0]!;
  const put = t.success[0]!;
  const cur = map.get(c.key);
  if ((cur?.version ?? 0) !== c.version) {
    const got = cur ? `{"op":"get","key":${JSON.stringify(c.key)},"found":true,"version":${cur.version},"hash":"${cur.hash}","value":${cur.value.toString()},"content_type":"${JSON_TYPE}"}` : `{"op":"get","key":${JSON.stringify(c.key)},"found":false}`;
    const current = cur ? `{"key":${JSON.stringify(c.key)},"version":${cur.version},"hash":"${cur.hash}"}` : `{"key":${JSON.stringify(c.key)},"version":0}`;
    return sendJson(res, '200 OK', `{"succeeded":false,"revision":0,"results":[${got}],"current":[${current}]}\n`);
  }
  const gate = `${c.key}\u0000${c.version}`;
  const waiting = gates.get(gate);
  if (waiting) {
    waiting.push(() => decide(res, aborted, t));
    return;
  }
  gates.set(gate, []);
  const value = Buffer.from(JSON.stringify(put.value));
  const hash = createHash('sha256').update(value).digest('hex');
  const version = c.version + 1;
  const entry: Entry = { value, version, versionText: String(version), hash, etag: `"${hash}"`, contentType: JSON_TYPE };
  const open = () => {
    const woken = gates.get(gate) ?? [];
    gates.delete(gate);
    for (const wake of woken) wake();
  };
  pending.push({
    key: put.key,
    entry,
    res,
    aborted,
    body: '',
    committed: (ok, error) => {
      if (ok) map.set(put.key, entry);
      if (!aborted()) {
        if (ok) sendJson(res, '200 OK', `{"succeeded":true,"revision":0,"results":[{"op":"put","key":${JSON.stringify(put.key)},"version":${version},"hash":"${hash}"}]}\n`);
        else fail(res, '500 Internal Server Error', error ?? 'commit failed', 500);
      }
      open();
    },
  });
  if (inFlight === null) send();
}

app.post('/api/txn', (res) => {
  let aborted = false;
  res.onAborted(() => {
    aborted = true;
  });
  if (!writer) return fail(res, '405 Method Not Allowed', 'transactions need the writer thread (thread mode)', 405);
  const chunks: Buffer[] = [];
  res.onData((ab, isLast) => {
    if (aborted) return;
    if (ab.byteLength > 0) chunks.push(Buffer.from(ab.slice(0)));
    if (!isLast) return;
    try {
      const t = JSON.parse(Buffer.concat(chunks).toString()) as CasTxn;
      if (t.compare?.length !== 1 || t.success?.[0]?.op !== 'put' || t.success[0].key !== t.compare[0]!.key) return fail(res, '400 Bad Request', 'the floor runs one compare of a key and a put of it', 400);
      decide(res, () => aborted, t);
    } catch (err) {
      fail(res, '400 Bad Request', String(err), 400);
    }
  });
});

app.any('/*', (res) => {
  fail(res, '404 Not Found', 'not found', 404);
});

const port = Number(process.argv[2] ?? 0);
app.listen('127.0.0.1', port, (socket) => {
  if (!socket) {
    process.stderr.write(`baseline-uws: cannot listen on 127.0.0.1:${port}\n`);
    process.exit(1);
  }
  const bound = uWS.us_socket_local_port(socket as unknown as uWS.us_socket);
  process.stderr.write(`${JSON.stringify({ msg: 'baseline-uws listening', api: `127.0.0.1:${bound}`, pid: process.pid })}\n`);
});

for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => process.exit(0));
