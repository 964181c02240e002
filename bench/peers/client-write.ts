/** The peers client's writes and reads: a put on each server (its revision back), and the closed loop of the write and read scenarios. */
import type { Spec } from './spec.js';
import { KEYS, pct, round, VALUE, window } from './client-figures.js';
import { NATS_BUCKET, kvSubject } from './ops.js';
import { Http, b64 } from './proto-http.js';
import { Nats } from './proto-nats.js';
import { Redis } from './proto-redis.js';

/** A put that returns the store's revision (sequence) of the write. */
export type Put = (key: string, value: Buffer) => Promise<number>;

/** `n` independent connections, each with its own put. */
export async function putters(spec: Spec, n: number): Promise<{ puts: Put[]; close: () => void }> {
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

/** Closed loop of writes (or reads) on `connections` connections for `durationS`. */
export async function loop(spec: Spec, kind: 'write' | 'read') {
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
