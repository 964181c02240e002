/**
 * The peers client's fan-out scenarios: watchers of a prefix while writers put keys under it, and
 * subscribers while publishers send messages; every delivery checked (each once, in order).
 */
import WebSocket from 'ws';
import type { Spec } from './spec.js';
import { deliveryFigures, sleep, VALUE, window } from './client-figures.js';
import { putters } from './client-write.js';
import { NATS_BUCKET } from './ops.js';
import { Http, b64 } from './proto-http.js';
import { Nats } from './proto-nats.js';
import { Redis } from './proto-redis.js';

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
export async function watch(spec: Spec) {
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
export async function pubsub(spec: Spec) {
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
