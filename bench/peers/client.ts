/**
 * One scenario of bench/peers against one server, as its own process pinned to the load core:
 *   node dist/bench/peers/client.js '<json Spec>'
 * prints one JSON line (the scenario's result) on stdout and exits. Every loop is bounded in time
 * (`durationS`, plus a hard deadline) and in count.
 *
 * Scenarios:
 *   write    closed loop, `connections` clients each writing 1 KB to one of 1000 keys, one at a
 *            time: acknowledged writes, p50/p99 (used for NATS; koor and etcd go through wrk, Redis
 *            through redis-benchmark)
 *   read     the same with reads of one 1 KB key
 *   cas      `clients` clients add 1 to one counter with a compare-and-set each (read, then a
 *            conditional write; on a lost compare the reply's current value when the server gives
 *            it, else a re-read): successes/s, conflicts, and the check that nothing was lost. With
 *            `casBin` (bench/peers/cas.c) this process only sets the counter up and checks it, and
 *            the C generator runs the clients
 *   watch    `watchers` watchers of a prefix while 4 writers put `writes` keys under it: every
 *            watcher must see every acknowledged write, in revision order, once
 *   pubsub   `subscribers` subscribers while 4 publishers send `messages`: every subscriber must
 *            see every message, in one order shared by all, each publisher's in its send order
 *   revision the server's change counter now (koor/etcd revision, NATS stream sequence, Redis SETs)
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import WebSocket from 'ws';
import { NATS_BUCKET, kvSubject, natsSetup, revision } from './ops.js';
import { Http, HttpConn, Nats, Redis, b64, type Resp } from './proto.js';

import type { PeerKind } from './ops.js';
export type { PeerKind };

export interface Spec {
  peer: PeerKind;
  port: number;
  /** Server pid: its CPU (all threads, user+sys) is read around the measured window. */
  pid?: number;
  scenario: 'write' | 'read' | 'cas' | 'watch' | 'pubsub' | 'revision' | 'setup';
  connections?: number;
  durationS?: number;
  writes?: number;
  messages?: number;
  watchers?: number;
  subscribers?: number;
  /** The cas row's generator in C (bench/peers/cas.c, built by bench/suites/peers.ts). */
  casBin?: string;
}

const KEYS = 1000;
const VALUE = Buffer.from(JSON.stringify({ pad: 'x'.repeat(1024 - 10) }));

function serverCpu(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // CLK_TCK 100 on Linux
  } catch {
    return 0;
  }
}

const pct = (sorted: number[], p: number): number | null => (sorted.length === 0 ? null : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!);
const round = (x: number, d = 3) => Math.round(x * 10 ** d) / 10 ** d;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Window bookkeeping: server CPU, own CPU, wall time. */
function window(pid?: number) {
  const c0 = serverCpu(pid);
  const u0 = process.cpuUsage();
  const t0 = performance.now();
  return () => {
    const wall = (performance.now() - t0) / 1000;
    const u = process.cpuUsage(u0);
    return { wall_s: round(wall), server_cpu_s: round(serverCpu(pid) - c0), gen_cores: round((u.user + u.system) / 1e6 / wall, 2) };
  };
}

/**
 * What both fan-out rows (watch, pub/sub) report of their deliveries: the rate over the window
 * (to the last delivery), the lag percentiles (`lat` gets sorted) and the server CPU per delivery.
 */
function deliveryFigures(seen: ReadonlyArray<readonly unknown[]>, lat: number[], lastAt: number, win: ReturnType<ReturnType<typeof window>>) {
  lat.sort((a, b) => a - b);
  const delivered = seen.reduce((a, s) => a + s.length, 0);
  const span = (lastAt - (performance.now() - win.wall_s * 1000)) / 1000;
  return {
    delivered,
    deliveries_per_s: Math.round(delivered / Math.max(span, 1e-3)),
    lag_p50_ms: round(pct(lat, 50) ?? NaN),
    lag_p99_ms: round(pct(lat, 99) ?? NaN),
    server_us_per_delivery: round((win.server_cpu_s / Math.max(1, delivered)) * 1e6, 2),
  };
}

// ---------------------------------------------------------------------------------------------
// Per-server operations

/** A put that returns the store's revision (sequence) of the write. */
type Put = (key: string, value: Buffer) => Promise<number>;

/** `n` independent connections, each with its own put. */
async function putters(spec: Spec, n: number): Promise<{ puts: Put[]; close: () => void }> {
  switch (spec.peer) {
    case 'koor': {
      const h = new Http(spec.port, n);
      const putBytes: Put = async (key, value) => {
        const r = await h.request('PUT', `/api/state/${key}`, value, { 'content-type': 'application/json' });
        if (r.status !== 200) throw new Error(`koor PUT ${key}: HTTP ${r.status} ${r.body.toString().slice(0, 200)}`);
        return (JSON.parse(r.body.toString()) as { revision: number }).revision;
      };
      return { puts: Array.from({ length: n }, () => putBytes), close: () => h.close() };
    }
    case 'etcd': {
      const h = new Http(spec.port, n);
      const put: Put = async (key, value) => {
        const r = await h.json<{ header: { revision: string } }>('POST', '/v3/kv/put', { key: b64(key), value: b64(value) });
        if (r.status !== 200) throw new Error(`etcd put ${key}: HTTP ${r.status} ${JSON.stringify(r.json).slice(0, 200)}`);
        return Number(r.json.header.revision);
      };
      return { puts: Array.from({ length: n }, () => put), close: () => h.close() };
    }
    case 'nats': {
      const conns = await Promise.all(Array.from({ length: n }, () => Nats.connect(spec.port)));
      return {
        puts: conns.map((c) => async (key: string, value: Buffer) => {
          const m = await c.request(kvSubject(key), value);
          const j = JSON.parse(m.data.toString()) as { seq?: number; error?: { description: string } };
          if (j.error || j.seq === undefined) throw new Error(`nats put ${key}: ${j.error?.description ?? m.status}`);
          return j.seq;
        }),
        close: () => conns.forEach((c) => c.close()),
      };
    }
    case 'redis': {
      const conns = await Promise.all(Array.from({ length: n }, () => Redis.connect(spec.port)));
      return {
        puts: conns.map((c) => async (key: string, value: Buffer) => {
          const r = await c.command('SET', key, value);
          if (r instanceof Error) throw r;
          return 0;
        }),
        close: () => conns.forEach((c) => c.close()),
      };
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Scenarios

/** Closed loop of writes (or reads) on `connections` connections for `durationS`. */
async function loop(spec: Spec, kind: 'write' | 'read') {
  const c = spec.connections ?? 1;
  const durationMs = (spec.durationS ?? 1) * 1000;
  const lat: number[] = [];
  let errors = 0;
  let firstError = '';
  let ops: Array<(i: number) => Promise<void>>;
  let close: () => void;
  if (kind === 'write') {
    const p = await putters(spec, c);
    ops = p.puts.map((put) => async (i: number) => void (await put(`bench/put/${i % KEYS}`, VALUE)));
    close = p.close;
  } else {
    if (spec.peer !== 'nats') throw new Error('read loop: nats only');
    await (await putters(spec, 1)).puts[0]!('bench/doc', VALUE);
    const conns = await Promise.all(Array.from({ length: c }, () => Nats.connect(spec.port)));
    ops = conns.map((n) => async () => {
      const m = await n.request(`$JS.API.DIRECT.GET.${NATS_BUCKET}`, JSON.stringify({ last_by_subj: kvSubject('bench/doc') }));
      if (m.data.length !== VALUE.length) throw new Error(`nats get: ${m.status} ${m.data.length} bytes`);
    });
    close = () => conns.forEach((n) => n.close());
  }
  // warm-up: one op per connection
  await Promise.all(ops.map((op, i) => op(i)));
  const w = window(spec.pid);
  const end = performance.now() + durationMs;
  let seq = 0;
  await Promise.all(
    ops.map(async (op) => {
      while (performance.now() < end) {
        const t = performance.now();
        try {
          await op(seq++);
          lat.push(performance.now() - t);
        } catch (e) {
          errors++;
          firstError ||= (e as Error).message;
          if (errors > 1000) return;
        }
      }
    }),
  );
  const win = w();
  close();
  lat.sort((a, b) => a - b);
  return { acked: lat.length, rps: Math.round(lat.length / win.wall_s), p50_ms: round(pct(lat, 50) ?? NaN), p99_ms: round(pct(lat, 99) ?? NaN), errors, first_error: firstError, ...win };
}

const CAS_KEY = 'bench/counter';
const REDIS_CAS = `local v = redis.call('GET', KEYS[1]) if v == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2]) return {1, ARGV[2]} else return {0, v} end`;

/** One client's compare-and-set of +1: true on success; `cur` is updated with what it learnt. */
type Cas = (cur: { value: number; rev: string }) => Promise<boolean>;

async function casClients(spec: Spec, n: number): Promise<{ read: () => Promise<{ value: number; rev: string }>; cas: Cas[]; close: () => void; learnsOnConflict: boolean; script?: string }> {
  switch (spec.peer) {
    case 'koor': {
      // One hand-read connection per client (HttpConn): node:http was the limit of this row.
      const conns = await Promise.all(Array.from({ length: n }, () => HttpConn.connect(spec.port)));
      const c0 = conns[0]!;
      const read = async () => {
        const r = await c0.request('GET', `/api/state/${CAS_KEY}`);
        return { value: Number(r.body.toString()), rev: String(r.headers['x-koor-version']) };
      };
      const cas = (h: HttpConn): Cas => async (cur) => {
        const r = await h.json<{ succeeded: boolean; results: Array<{ version?: number; value?: unknown }> }>('POST', '/api/txn', {
          compare: [{ key: CAS_KEY, version: Number(cur.rev) }],
          success: [{ op: 'put', key: CAS_KEY, value: cur.value + 1 }],
          failure: [{ op: 'get', key: CAS_KEY }],
        });
        if (r.status !== 200) throw new Error(`koor txn: HTTP ${r.status} ${JSON.stringify(r.json).slice(0, 200)}`);
        const res = r.json.results[0]!;
        if (r.json.succeeded) {
          cur.value += 1;
          cur.rev = String(res.version);
          return true;
        }
        cur.value = Number(res.value);
        cur.rev = String(res.version);
        return false;
      };
      await c0.request('PUT', `/api/state/${CAS_KEY}`, '0');
      return { read, cas: conns.map(cas), close: () => conns.forEach((c) => c.close()), learnsOnConflict: true };
    }
    case 'etcd': {
      const conns = await Promise.all(Array.from({ length: n }, () => HttpConn.connect(spec.port)));
      const c0 = conns[0]!;
      type Kv = { mod_revision: string; value: string };
      const read = async () => {
        const r = await c0.json<{ kvs: Kv[] }>('POST', '/v3/kv/range', { key: b64(CAS_KEY) });
        const kv = r.json.kvs[0]!;
        return { value: Number(Buffer.from(kv.value, 'base64').toString()), rev: kv.mod_revision };
      };
      const cas = (h: HttpConn): Cas => async (cur) => {
        const r = await h.json<{ succeeded?: boolean; header: { revision: string }; responses: Array<{ response_range?: { kvs: Kv[] } }> }>('POST', '/v3/kv/txn', {
          compare: [{ key: b64(CAS_KEY), target: 'MOD', result: 'EQUAL', mod_revision: cur.rev }],
          success: [{ request_put: { key: b64(CAS_KEY), value: b64(String(cur.value + 1)) } }],
          failure: [{ request_range: { key: b64(CAS_KEY) } }],
        });
        if (r.status !== 200) throw new Error(`etcd txn: HTTP ${r.status} ${JSON.stringify(r.json).slice(0, 200)}`);
        if (r.json.succeeded) {
          cur.value += 1;
          cur.rev = r.json.header.revision;
          return true;
        }
        const kv = r.json.responses[0]!.response_range!.kvs[0]!;
        cur.value = Number(Buffer.from(kv.value, 'base64').toString());
        cur.rev = kv.mod_revision;
        return false;
      };
      await c0.json('POST', '/v3/kv/put', { key: b64(CAS_KEY), value: b64('0') });
      return { read, cas: conns.map(cas), close: () => conns.forEach((c) => c.close()), learnsOnConflict: true };
    }
    case 'redis': {
      const conns = await Promise.all(Array.from({ length: n }, () => Redis.connect(spec.port)));
      const c0 = conns[0]!;
      await c0.command('SET', CAS_KEY, '0');
      const sha = String(await c0.command('SCRIPT', 'LOAD', REDIS_CAS));
      const read = async () => ({ value: Number(String(await c0.command('GET', CAS_KEY))), rev: '' });
      return {
        read,
        cas: conns.map((c) => async (cur) => {
          const r = (await c.command('EVALSHA', sha, '1', CAS_KEY, String(cur.value), String(cur.value + 1))) as Resp;
          if (r instanceof Error) throw r;
          const [ok, v] = r as [number, Buffer];
          cur.value = Number(String(v));
          return ok === 1;
        }),
        close: () => conns.forEach((c) => c.close()),
        learnsOnConflict: true,
        script: sha,
      };
    }
    case 'nats': {
      const conns = await Promise.all(Array.from({ length: n }, () => Nats.connect(spec.port)));
      const subj = kvSubject(CAS_KEY);
      const get = async (c: Nats) => {
        const m = await c.request(`$JS.API.DIRECT.GET.${NATS_BUCKET}`, JSON.stringify({ last_by_subj: subj }));
        return { value: Number(m.data.toString()), rev: m.headers.get('nats-sequence') ?? '0' };
      };
      await conns[0]!.request(subj, '0');
      return {
        read: () => get(conns[0]!),
        cas: conns.map((c) => async (cur) => {
          const m = await c.request(subj, String(cur.value + 1), 10_000, { 'Nats-Expected-Last-Subject-Sequence': cur.rev });
          const j = JSON.parse(m.data.toString()) as { seq?: number; error?: { err_code: number; description: string } };
          if (!j.error && j.seq !== undefined) {
            cur.value += 1;
            cur.rev = String(j.seq);
            return true;
          }
          if (j.error?.err_code !== 10071) throw new Error(`nats cas: ${j.error?.description}`);
          Object.assign(cur, await get(c)); // the error names the sequence, not the value: re-read
          return false;
        }),
        close: () => conns.forEach((c) => c.close()),
        learnsOnConflict: false,
      };
    }
  }
}

/** What both generators of the cas row report: the rate, the check that nothing was lost, the window. */
function casResult(n: number, r: { successes: number; conflicts: number; errors: number; first_error: string; duplicates: number; success_p50_ms: number | null }, final: number, reReads: boolean, win: { wall_s: number; server_cpu_s: number; gen_cores: number }) {
  const lost = final - r.successes; // each success added exactly one: a difference is a lost (or phantom) update
  return {
    clients: n,
    successes: r.successes,
    per_s: Math.round(r.successes / win.wall_s),
    conflicts: r.conflicts,
    success_p50_ms: round(r.success_p50_ms ?? NaN),
    final_value: final,
    ok: lost === 0 && r.duplicates === 0 && r.errors === 0,
    check: lost === 0 && r.duplicates === 0 ? `final ${final} = ${r.successes} successes, no value written twice` : `final ${final} vs ${r.successes} successes, ${r.duplicates} values written twice`,
    re_read_on_conflict: reReads,
    errors: r.errors,
    first_error: r.first_error,
    ...win,
  };
}

/**
 * The cas row with the generator in C (bench/peers/cas.c): this process sets the counter up and
 * checks the final value; the C process runs the clients, and its CPU is the generator's.
 */
async function casNative(spec: Spec, bin: string) {
  const n = spec.connections ?? 16;
  const durationS = spec.durationS ?? 1;
  const c = await casClients(spec, 1);
  const cur = await c.read();
  const c0 = serverCpu(spec.pid);
  const out = await new Promise<string>((resolve, reject) =>
    execFile(bin, [spec.peer, String(spec.port), String(n), String(durationS), String(cur.value), cur.rev || '0', c.script ?? ''], { timeout: (durationS + 45) * 1000 }, (err, stdout, stderr) => (err ? reject(new Error(`cas generator: ${err.message} ${stderr}`)) : resolve(stdout))),
  );
  const serverCpuS = round(serverCpu(spec.pid) - c0);
  const r = JSON.parse(out) as { successes: number; conflicts: number; errors: number; first_error: string; duplicates: number; success_p50_ms: number; wall_s: number; cpu_s: number };
  const final = (await c.read()).value;
  c.close();
  return casResult(n, { ...r, success_p50_ms: r.success_p50_ms < 0 ? null : r.success_p50_ms }, final, !c.learnsOnConflict, { wall_s: r.wall_s, server_cpu_s: serverCpuS, gen_cores: round(r.cpu_s / r.wall_s, 2) });
}

async function cas(spec: Spec) {
  if (spec.casBin) return casNative(spec, spec.casBin);
  const n = spec.connections ?? 16;
  const durationMs = (spec.durationS ?? 1) * 1000;
  const c = await casClients(spec, n);
  let successes = 0;
  let conflicts = 0;
  let errors = 0;
  let firstError = '';
  const written = new Set<number>();
  let duplicates = 0;
  const lat: number[] = [];
  const w = window(spec.pid);
  const end = performance.now() + durationMs;
  await Promise.all(
    c.cas.map(async (f) => {
      let cur = await c.read();
      while (performance.now() < end) {
        const t = performance.now();
        try {
          const from = cur.value;
          if (await f(cur)) {
            successes++;
            lat.push(performance.now() - t);
            if (written.has(from + 1)) duplicates++;
            written.add(from + 1);
          } else conflicts++;
        } catch (e) {
          errors++;
          firstError ||= (e as Error).message;
          if (errors > 100) return;
          cur = await c.read();
        }
      }
    }),
  );
  const win = w();
  const final = (await c.read()).value;
  c.close();
  lat.sort((a, b) => a - b);
  return casResult(n, { successes, conflicts, errors, first_error: firstError, duplicates, success_p50_ms: pct(lat, 50) }, final, !c.learnsOnConflict, win);
}

/** A watcher or subscriber's callback gets an id (revision / key index) and the receipt time. */
type Sink = (id: string, seq: number) => void;

async function openWatchers(spec: Spec, count: number, sinkFor: (i: number) => Sink): Promise<() => void> {
  const closers: Array<() => void> = [];
  switch (spec.peer) {
    case 'koor': {
      await Promise.all(
        Array.from({ length: count }, (_, i) => {
          const sink = sinkFor(i);
          return new Promise<void>((resolve, reject) => {
            const ws = new WebSocket(`ws://127.0.0.1:${spec.port}/api/state/watch?prefix=fan/`, { perMessageDeflate: false });
            ws.on('message', (d) => {
              const f = JSON.parse(String(d)) as { key: string; revision: number };
              sink(f.key, f.revision);
            });
            ws.once('open', () => resolve());
            ws.once('error', reject);
            closers.push(() => ws.terminate());
          });
        }),
      );
      break;
    }
    case 'etcd': {
      const http = await import('node:http');
      await Promise.all(
        Array.from({ length: count }, (_, i) => {
          const sink = sinkFor(i);
          return new Promise<void>((resolve, reject) => {
            const req = http.request({ host: '127.0.0.1', port: spec.port, method: 'POST', path: '/v3/watch', headers: { 'content-type': 'application/json' } }, (res) => {
              let buf = '';
              res.setEncoding('utf8');
              res.on('data', (chunk: string) => {
                buf += chunk;
                let nl: number;
                while ((nl = buf.indexOf('\n')) >= 0) {
                  const line = buf.slice(0, nl).trim();
                  buf = buf.slice(nl + 1);
                  if (!line) continue;
                  const j = JSON.parse(line) as { result?: { created?: boolean; events?: Array<{ kv: { key: string; mod_revision: string } }> } };
                  if (j.result?.created) resolve();
                  for (const e of j.result?.events ?? []) sink(Buffer.from(e.kv.key, 'base64').toString(), Number(e.kv.mod_revision));
                }
              });
              res.on('error', () => {});
            });
            req.on('error', reject);
            req.end(JSON.stringify({ create_request: { key: b64('fan/'), range_end: b64('fan0') } }));
            closers.push(() => req.destroy());
          });
        }),
      );
      break;
    }
    case 'nats': {
      // What a NATS KV watch is (nats.js kv.watch()): an ordered push consumer of the bucket's
      // stream, filtered to the keys, from now on; the stream sequence is in the reply subject.
      const conns = await Promise.all(Array.from({ length: Math.min(count, 10) }, () => Nats.connect(spec.port)));
      for (let i = 0; i < count; i++) {
        const n = conns[i % conns.length]!;
        const sink = sinkFor(i);
        const deliver = `_WATCH.${i}.${Math.random().toString(36).slice(2)}`;
        n.subscribe(deliver, (m) => {
          if (!m.reply) return; // flow control / heartbeat
          const seq = Number(m.reply.split('.')[5]);
          sink(m.subject.slice('$KV.bench.'.length).replace(/\./g, '/'), seq);
        });
        await n.api(`$JS.API.CONSUMER.CREATE.${NATS_BUCKET}`, {
          stream_name: NATS_BUCKET,
          config: { deliver_subject: deliver, filter_subject: '$KV.bench.fan.>', deliver_policy: 'new', ack_policy: 'none', max_deliver: 1, replay_policy: 'instant', mem_storage: true, num_replicas: 1, flow_control: false, headers_only: false },
        });
      }
      closers.push(() => conns.forEach((c) => c.close()));
      break;
    }
    case 'redis':
      throw new Error('redis has no watch');
  }
  return () => closers.forEach((f) => f());
}

/** Watch fan-out: `watchers` watchers of fan/, 4 writers put `writes` keys under it. */
async function watch(spec: Spec) {
  const count = spec.watchers ?? 100;
  const writes = spec.writes ?? 300;
  const seen: Array<Array<[string, number, number]>> = Array.from({ length: count }, () => []);
  const close = await openWatchers(spec, count, (i) => (key, rev) => seen[i]!.push([key, rev, performance.now()]));
  const p = await putters(spec, 4);
  const acked = new Map<string, number>(); // key → revision acknowledged
  const sentAt = new Map<string, number>();
  const w = window(spec.pid);
  let next = 0;
  let errors = 0;
  let firstError = '';
  await Promise.all(
    p.puts.map(async (put) => {
      while (next < writes) {
        const key = `fan/k${next++}`;
        sentAt.set(key, performance.now());
        try {
          acked.set(key, await put(key, VALUE));
        } catch (e) {
          errors++;
          firstError ||= (e as Error).message;
        }
      }
    }),
  );
  const deadline = performance.now() + 30_000;
  while (seen.some((s) => s.length < acked.size) && performance.now() < deadline) await sleep(10);
  const lastAt = Math.max(...seen.map((s) => s.at(-1)?.[2] ?? 0));
  const win = w();
  close();
  p.close();
  // Checks: each watcher saw each acknowledged write once, at its revision, revisions increasing.
  let bad = 0;
  let firstBad = '';
  const lat: number[] = [];
  for (let i = 0; i < count; i++) {
    const s = seen[i]!;
    const got = new Set<string>();
    let prev = -1;
    for (const [key, rev, at] of s) {
      if (rev <= prev || got.has(key) || acked.get(key) !== rev) {
        bad++;
        firstBad ||= `watcher ${i}: ${key} at ${rev} after ${prev} (acknowledged at ${acked.get(key)})`;
      }
      prev = rev;
      got.add(key);
      lat.push(at - sentAt.get(key)!);
    }
    for (const k of acked.keys()) {
      if (!got.has(k)) {
        bad++;
        firstBad ||= `watcher ${i}: never saw ${k}`;
      }
    }
  }
  const figures = deliveryFigures(seen, lat, lastAt, win);
  return {
    watchers: count,
    writes: acked.size,
    ...figures,
    ok: bad === 0 && errors === 0 && figures.delivered === count * acked.size,
    check: bad === 0 ? `${count} watchers × ${acked.size} writes, each once, in revision order` : `${bad} violations; first: ${firstBad}`,
    errors,
    first_error: firstError,
    ...win,
  };
}

/** Pub/sub fan-out: `subscribers` subscribers, 4 publishers sending `messages` in all. */
async function pubsub(spec: Spec) {
  const count = spec.subscribers ?? 100;
  const messages = spec.messages ?? 1000;
  const PUBS = 4;
  const pad = 'x'.repeat(1000);
  const seen: Array<Array<[number, number, number]>> = Array.from({ length: count }, () => []); // [publisher, n, at]
  const onPayload = (i: number) => (text: string) => {
    const j = JSON.parse(text) as { p: number; n: number; data?: { p: number; n: number } };
    const d = j.data ?? j;
    seen[i]!.push([d.p, d.n, performance.now()]);
  };
  const closers: Array<() => void> = [];
  let publish: Array<(n: number) => Promise<void>>;
  const body = (p: number, n: number) => JSON.stringify({ p, n, pad });
  switch (spec.peer) {
    case 'koor': {
      await Promise.all(
        Array.from({ length: count }, (_, i) => {
          const on = onPayload(i);
          return new Promise<void>((resolve, reject) => {
            const ws = new WebSocket(`ws://127.0.0.1:${spec.port}/api/events/subscribe?pattern=fan.*`, { perMessageDeflate: false });
            ws.on('message', (d) => on(String(d)));
            ws.once('open', () => resolve());
            ws.once('error', reject);
            closers.push(() => ws.terminate());
          });
        }),
      );
      const h = new Http(spec.port, PUBS);
      closers.push(() => h.close());
      publish = Array.from({ length: PUBS }, (_, p) => async (n: number) => {
        const r = await h.request('POST', '/api/events/publish', `{"topic":"fan.x","data":${body(p, n)}}`);
        if (r.status !== 200) throw new Error(`koor publish: HTTP ${r.status}`);
      });
      break;
    }
    case 'redis': {
      const subs = await Promise.all(Array.from({ length: count }, () => Redis.connect(spec.port)));
      await Promise.all(subs.map((s, i) => s.subscribe('fan', ((on) => (b: Buffer) => on(b.toString()))(onPayload(i)))));
      const pubs = await Promise.all(Array.from({ length: PUBS }, () => Redis.connect(spec.port)));
      closers.push(() => [...subs, ...pubs].forEach((c) => c.close()));
      publish = pubs.map((c, p) => async (n: number) => {
        const r = await c.command('PUBLISH', 'fan', body(p, n));
        if (r instanceof Error) throw r;
      });
      break;
    }
    case 'nats': {
      const subConns = await Promise.all(Array.from({ length: count }, () => Nats.connect(spec.port)));
      subConns.forEach((c, i) => {
        const on = onPayload(i);
        c.subscribe('fan', (m) => on(m.data.toString()));
      });
      await Promise.all(subConns.map((c) => c.ping()));
      const pubs = await Promise.all(Array.from({ length: PUBS }, () => Nats.connect(spec.port)));
      closers.push(() => [...subConns, ...pubs].forEach((c) => c.close()));
      // Core NATS publishes are not acknowledged: each publisher waits for a PING's PONG after its
      // PUB (the server has processed it), so it stays one message in flight like the others.
      publish = pubs.map((c, p) => async (n: number) => {
        c.publish('fan', body(p, n));
        await c.ping();
      });
      break;
    }
    case 'etcd':
      throw new Error('etcd has no pub/sub');
  }
  const w = window(spec.pid);
  let next = 0;
  const sent = new Map<string, number>();
  let errors = 0;
  let firstError = '';
  await Promise.all(
    publish.map(async (pub, p) => {
      let n = 0;
      while (next < messages) {
        next++;
        sent.set(`${p}:${n}`, performance.now());
        try {
          await pub(n);
        } catch (e) {
          errors++;
          firstError ||= (e as Error).message;
        }
        n++;
      }
    }),
  );
  const deadline = performance.now() + 30_000;
  while (seen.some((s) => s.length < sent.size) && performance.now() < deadline) await sleep(10);
  const lastAt = Math.max(...seen.map((s) => s.at(-1)?.[2] ?? 0));
  const win = w();
  closers.forEach((f) => f());
  let bad = 0;
  let firstBad = '';
  const ref = seen[0]!.map(([p, n]) => `${p}:${n}`).join(',');
  const lat: number[] = [];
  for (let i = 0; i < count; i++) {
    const s = seen[i]!;
    const last = new Array<number>(PUBS).fill(-1);
    for (const [p, n, at] of s) {
      if (n !== last[p]! + 1) {
        bad++;
        firstBad ||= `subscriber ${i}: publisher ${p}'s ${n} after ${last[p]}`;
      }
      last[p] = n;
      lat.push(at - sent.get(`${p}:${n}`)!);
    }
    if (s.length !== sent.size) {
      bad++;
      firstBad ||= `subscriber ${i}: ${s.length} of ${sent.size} messages`;
    } else if (i > 0 && s.map(([p, n]) => `${p}:${n}`).join(',') !== ref) {
      bad++;
      firstBad ||= `subscriber ${i}: another order than subscriber 0`;
    }
  }
  return {
    subscribers: count,
    messages: sent.size,
    ...deliveryFigures(seen, lat, lastAt, win),
    ok: bad === 0 && errors === 0,
    check: bad === 0 ? `${count} subscribers × ${sent.size} messages, each once, one order` : `${bad} violations; first: ${firstBad}`,
    errors,
    first_error: firstError,
    ...win,
  };
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2] ?? '{}') as Spec;
  const hard = setTimeout(() => {
    process.stderr.write(`peers client: ${spec.peer} ${spec.scenario} hit its hard deadline\n`);
    process.exit(3);
  }, ((spec.durationS ?? 1) + 90) * 1000);
  hard.unref();
  let out: unknown;
  switch (spec.scenario) {
    case 'setup':
      if (spec.peer === 'nats') await natsSetup(spec.port);
      out = { ok: true };
      break;
    case 'revision':
      out = { revision: await revision(spec) };
      break;
    case 'write':
    case 'read':
      out = await loop(spec, spec.scenario);
      break;
    case 'cas':
      out = await cas(spec);
      break;
    case 'watch':
      out = await watch(spec);
      break;
    case 'pubsub':
      out = await pubsub(spec);
      break;
  }
  process.stdout.write(`${JSON.stringify(out)}\n`, () => process.exit(0));
}

main().catch((e: unknown) => {
  process.stderr.write(`peers client: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
