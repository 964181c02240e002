/**
 * The events suite's servers under test (koor and the bare-uWS baseline, each with the WebSocket
 * URL its subscribers open) and its fleet of subscriber processes (bench/fanout/subscriber.ts),
 * driven over their control protocol (protocol.ts): open, snapshot, resume, close.
 */
import { sleep } from '../lib/async.js';
import { spawnBenchScript, type ServerProc } from '../lib/processes.js';
import type { OpenReply, OpenRequest, Snapshot, SubRow } from './protocol.js';

export type TargetName = 'koor' | 'baseline';

export interface Target {
  name: TargetName;
  proc: ServerProc;
  wsUrl: (overflow?: 'drop') => string;
}

export interface ServerMetrics {
  last_event_id: number;
  events: { subscribers: number; delivered?: number; dropped?: number; closed_slow?: number; queued_bytes?: number; closed?: number; closed_codes?: Record<string, number> };
}

async function getJson<T>(url: string, init: RequestInit = {}, timeoutMs = 10_000): Promise<T> {
  const r = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
  const text = await r.text();
  if (r.status !== 200) throw new Error(`${init.method ?? 'GET'} ${url} → ${r.status} ${text.slice(0, 300)}`);
  return JSON.parse(text) as T;
}

export const metrics = (t: Target): Promise<ServerMetrics> => getJson<ServerMetrics>(`${t.proc.url}/api/metrics`);

// ---------------------------------------------------------------------------------------------
// Subscriber processes

export interface FleetSnap {
  procs: Snapshot[];
}

export class Fleet {
  constructor(readonly procs: ServerProc[]) {}

  static async start(n: number): Promise<Fleet> {
    const procs = await Promise.all(Array.from({ length: n }, (_, i) => spawnBenchScript(`subscriber-${i}`, 'fanout/subscriber.js')));
    return new Fleet(procs);
  }

  pids(): Record<string, number> {
    return Object.fromEntries(this.procs.map((p, i) => [`sub${i}`, p.pid]));
  }

  private call<T>(i: number, method: 'GET' | 'POST', path: string, body?: unknown, timeoutMs = 30_000): Promise<T> {
    return getJson<T>(`${this.procs[i]!.url}${path}`, { method, ...(body !== undefined ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {}) }, timeoutMs);
  }

  /** Opens n subscriptions spread evenly; `stalled` of them (on the first process) stop reading. */
  async open(url: string, n: number, opts: { stalled?: number; extra?: Partial<OpenRequest> } = {}): Promise<{ opened: number; failed: number; errors: string[]; ms: number }> {
    const stalled = opts.stalled ?? 0;
    const normal = n - stalled;
    const per = this.procs.map((_, i) => Math.floor(normal / this.procs.length) + (i < normal % this.procs.length ? 1 : 0));
    const t0 = Date.now();
    const replies = await Promise.all(per.map((count, i) => (count > 0 ? this.call<OpenReply>(i, 'POST', '/open', { url, count, ...opts.extra }) : Promise.resolve({ opened: 0, failed: 0, errors: [], ms: 0 }))));
    if (stalled > 0) {
      // Opened last on the least-loaded process, so normal subscribers are indexes 0..k-1 there.
      const i = per.indexOf(Math.min(...per));
      replies.push(await this.call<OpenReply>(i, 'POST', '/open', { url, count: stalled, stall: true, ...opts.extra }));
    }
    return {
      opened: replies.reduce((a, r) => a + r.opened, 0),
      failed: replies.reduce((a, r) => a + r.failed, 0),
      errors: replies.flatMap((r) => r.errors).slice(0, 5),
      ms: Date.now() - t0,
    };
  }

  async snap(): Promise<FleetSnap> {
    return { procs: await Promise.all(this.procs.map((_, i) => this.call<Snapshot>(i, 'GET', '/snap'))) };
  }

  async resume(): Promise<FleetSnap> {
    return { procs: await Promise.all(this.procs.map((_, i) => this.call<Snapshot>(i, 'POST', '/resume', { quietMs: 500, timeoutMs: 10_000 }))) };
  }

  async close(): Promise<void> {
    await Promise.all(this.procs.map((_, i) => this.call(i, 'POST', '/close')));
  }

  async stop(): Promise<void> {
    await Promise.all(this.procs.map((p) => p.stop(3000)));
  }
}

export type Row = { proc: number; idx: number; row: SubRow; stalled: boolean };

export function rowsOf(s: FleetSnap): Row[] {
  return s.procs.flatMap((p, proc) => p.rows.map((row, idx) => ({ proc, idx, row, stalled: p.details[idx]?.stalled ?? false })));
}

/** Waits until every open, reading subscription has seen event `lastId` (bounded). */
export async function drain(fleet: Fleet, lastId: number, timeoutMs: number): Promise<{ snap: FleetSnap; ms: number; caughtUp: boolean }> {
  const t0 = Date.now();
  for (;;) {
    const snap = await fleet.snap();
    const behind = rowsOf(snap).filter((r) => !r.stalled && r.row[6] === 'open' && r.row[3] < lastId);
    if (behind.length === 0 || Date.now() - t0 > timeoutMs) return { snap, ms: Date.now() - t0, caughtUp: behind.length === 0 };
    await sleep(50);
  }
}

export async function waitSubscribers(t: Target, n: number, timeoutMs = 10_000): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    const m = await metrics(t);
    if (m.events.subscribers === n || Date.now() - t0 > timeoutMs) return m.events.subscribers;
    await sleep(50);
  }
}
