/**
 * The speed suite's fan-out rows: koor's WebSocket fan-out against Redis pub/sub and a minimal
 * durable fan-out (bench/baselines/uws-fanout.ts), counted by subscriber processes (bench/fanout/).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { sleep } from '../lib/async.js';
import { procCpu } from '../lib/cpu.js';
import { pin, spawnBenchScript, spawnKoor, type ServerProc } from '../lib/processes.js';
import { CONNECTIONS, script, wrk } from './drive.js';
import { startRedis } from './redis.js';

/** Subscriber processes per fan-out run (each holds count / SUB_PROCS subscriptions). */
export const SUB_PROCS = 2;
const FANOUT_TOPIC = 'bench.fan';

async function ctl<T>(url: string, method = 'GET', body?: unknown): Promise<T> {
  const r = await fetch(url, { method, ...(body !== undefined ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {}), signal: AbortSignal.timeout(30_000) });
  if (!r.ok) throw new Error(`${method} ${url}: HTTP ${r.status}`);
  return (await r.json()) as T;
}

/** Frames received so far by every subscriber process, and their bytes. */
async function frames(subs: ServerProc[], kind: 'koor' | 'redis'): Promise<{ frames: number; bytes: number }> {
  let n = 0;
  let bytes = 0;
  for (const p of subs) {
    if (kind === 'koor') {
      const snap = await ctl<{ frames: number; bytes: number }>(`${p.url}/snap`);
      n += snap.frames;
      bytes += snap.bytes;
    } else n += (await ctl<{ messages: number }>(`${p.url}/snap`)).messages;
  }
  return { frames: n, bytes };
}

export interface FanoutRun {
  subscribers: number;
  publishes_per_s: number;
  deliveries_per_s: number;
  frame_bytes: number;
  /** Server CPU (all threads) per delivered frame, µs: comparable even when the clients set the pace. */
  server_us_per_delivery: number;
}

const cpuSeconds = (pid: number): number => {
  const t = procCpu(pid).total;
  return t ? t.user + t.sys : 0;
};

/**
 * Fan-out to `count` subscribers: koor (WebSocket, durable publish over HTTP by wrk) against Redis
 * pub/sub (SUBSCRIBE, PUBLISH by redis-benchmark) with payloads of koor's frame size, and against
 * a minimal durable fan-out (baselines/uws-fanout.js --db: bare uWS writing each batch of events to
 * the sockets once a writer thread has it on disk; koor beats it, so it is a reference, not a floor). Servers on core 0; the publisher and SUB_PROCS subscriber processes
 * (minimal frame counters) on core 1.
 */
export async function fanout(dir: string, count: number, durationS: number, warnings: string[]): Promise<{ koor: FanoutRun; bare_durable: FanoutRun | null; redis: FanoutRun | null }> {
  const procs: ServerProc[] = [];
  try {
    const body = JSON.stringify({ topic: FANOUT_TOPIC, data: { agent: 'bench', note: 'fan-out' } });
    const pub = script(dir, 'fanout-publish', { method: 'POST', path: '/api/events/publish', headers: { 'Content-Type': 'application/json' }, body });
    /** Subscribers on core 1, wrk publishing to the server on core 0: what was delivered, and the server's CPU per delivery. */
    const wsRun = async (server: ServerProc): Promise<FanoutRun> => {
      procs.push(server);
      pin(server.pid, 0);
      const subs: ServerProc[] = [];
      for (let i = 0; i < SUB_PROCS; i++) {
        const p = await spawnBenchScript(`subscriber-${i}`, 'fanout/subscriber.js');
        procs.push(p);
        subs.push(p);
        pin(p.pid, 1);
        const url = `${server.url.replace(/^http/, 'ws')}/api/events/subscribe?pattern=${encodeURIComponent('bench.*')}`;
        const r = await ctl<{ opened: number; errors: string[] }>(`${p.url}/open`, 'POST', { url, count: count / SUB_PROCS, client: 'raw' });
        if (r.opened !== count / SUB_PROCS) throw new Error(`${server.name} subscribers: ${r.opened} opened, ${r.errors.slice(0, 2).join('; ')}`);
      }
      wrk(server.url, pub, 1);
      const a = await frames(subs, 'koor');
      const c0 = cpuSeconds(server.pid);
      const r = wrk(server.url, pub, durationS);
      await sleep(300); // frames still in flight when wrk stopped
      const b = await frames(subs, 'koor');
      const c1 = cpuSeconds(server.pid);
      const delivered = Math.max(1, b.frames - a.frames);
      for (const p of procs.splice(0)) await p.stop();
      return { subscribers: count, publishes_per_s: r.rps, deliveries_per_s: Math.round((b.frames - a.frames) / durationS), frame_bytes: Math.round((b.bytes - a.bytes) / delivered), server_us_per_delivery: Math.round(((c1 - c0) / delivered) * 1e8) / 100 };
    };
    const koorRun = await wsRun(await spawnKoor(['--sync', 'full']));
    const frameBytes = koorRun.frame_bytes;
    let bareRun: FanoutRun | null = null;
    try {
      bareRun = await wsRun(await spawnBenchScript('bare-durable-fanout', 'baselines/uws-fanout.js', ['--db', path.join(dir, `bare-durable-fanout-${count}.db`)]));
    } catch (e) {
      warnings.push(`fan-out ${count}, bare durable fan-out: ${(e as Error).message}`);
      for (const p of procs.splice(0)) await p.stop(); // not left running beside Redis
    }

    const redisDir = path.join(dir, `redis-pubsub-${count}`);
    fs.mkdirSync(redisDir);
    const redis = await startRedis(redisDir, 'everysec');
    if (!redis) {
      warnings.push('redis-server did not start: no pub/sub reference');
      return { koor: koorRun, bare_durable: bareRun, redis: null };
    }
    try {
      const rsubs: ServerProc[] = [];
      for (let i = 0; i < SUB_PROCS; i++) {
        const p = await spawnBenchScript(`redis-subscriber-${i}`, 'fanout/redis-subscriber.js', [String(redis.port), FANOUT_TOPIC, String(count / SUB_PROCS)]);
        procs.push(p);
        rsubs.push(p);
        pin(p.pid, 1);
      }
      const payload = 'x'.repeat(Math.max(1, frameBytes));
      const n = Math.max(10_000, Math.round(koorRun.publishes_per_s * durationS));
      const x0 = await frames(rsubs, 'redis');
      const rc0 = cpuSeconds(redis.child.pid!);
      const t0 = performance.now();
      execFileSync('taskset', ['-c', '1', 'redis-benchmark', '-p', String(redis.port), '-c', String(CONNECTIONS), '-n', String(n), '-q', 'PUBLISH', FANOUT_TOPIC, payload], { stdio: 'ignore', timeout: 300_000 });
      const wall = (performance.now() - t0) / 1000;
      await sleep(300);
      const x1 = await frames(rsubs, 'redis');
      const rc1 = cpuSeconds(redis.child.pid!);
      const rDelivered = Math.max(1, x1.frames - x0.frames);
      return {
        koor: koorRun,
        bare_durable: bareRun,
        redis: { subscribers: count, publishes_per_s: Math.round(n / wall), deliveries_per_s: Math.round((x1.frames - x0.frames) / wall), frame_bytes: frameBytes, server_us_per_delivery: Math.round(((rc1 - rc0) / rDelivered) * 1e8) / 100 },
      };
    } finally {
      redis.child.kill('SIGKILL');
    }
  } finally {
    for (const p of procs) await p.stop();
  }
}
