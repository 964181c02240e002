/**
 * Resuming WebSocket readers: event subscriptions (`since=<id>`), state watches
 * (`since_revision=<revision>`) and inbox push streams (`since=<id>`). Each keeps the ids it
 * received, counts a duplicate or an id below the last as it arrives, and after any close — a
 * slow-consumer 4008, a killed server, a restart — reconnects (on the next node after a transport
 * error) from the last id it holds. Ids the server says it no longer retains at a resume
 * (`X-Koor-Oldest-Event` / `X-Koor-Oldest-Revision`) are noted, so the gap check can excuse them
 * and count them apart.
 */
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { sleep } from '../lib/async.js';
import type { Phase } from './client.js';

export type StreamKind = 'events' | 'watch' | 'inbox';

export interface StreamSpec {
  kind: StreamKind;
  name: string;
  /** The path and query of a connection resuming after `since` (0: from the start). */
  path: (since: number) => string;
  headers?: Record<string, string>;
  /** The upgrade header naming the oldest id still retained, when `since` is older. */
  oldestHeader?: string;
  /** Called with each frame that is not a duplicate (one out of order too: it is counted apart). */
  onFrame?: (frame: any) => void;
}

/** Wait before reconnecting, ms (doubling per failed connection, up to the max). */
const RECONNECT_BASE_MS = 50;
const RECONNECT_MAX_MS = 1000;

export class Stream {
  /** The resume point: the highest id received. */
  last = 0;
  readonly seen = new Set<number>();
  frames = 0;
  duplicates: number[] = [];
  /** [id, the last id before it] of frames below the last id received. */
  reordered: Array<[number, number]> = [];
  connects = 0;
  failedConnects = 0;
  /** Closes this client made itself (to pause on a fresh connection). */
  selfCloses = 0;
  /** Frames that were not JSON. */
  malformed = 0;
  readonly closes: Record<string, number> = {};
  /** Resumes the server could not serve in full: ids in (since, oldest) were already gone. */
  readonly excused: Array<[number, number]> = [];
  private ws: WebSocket | null = null;
  private stopped = false;
  /** performance.now() until which the stream does not read. */
  private pausedUntil = 0;
  private pauses = 0;
  private node: number;
  private failures = 0;

  constructor(
    private readonly phase: Phase,
    readonly spec: StreamSpec,
    index: number,
  ) {
    this.node = index % phase.nodes.length;
  }

  start(): void {
    this.open();
  }

  /**
   * Stops reading for `ms`: every other time on the connection as it is (a live stream: the
   * server must close it with 4008 once its buffer is full), else on a fresh one (closed and
   * resumed from the last id: a resumed stream may be replaying from the log, and a fresh
   * socket's buffers fill in about a megabyte, where one that has been read fast takes many).
   * Connections made within the window start paused too (after a 4008, say).
   */
  pauseFor(ms: number): void {
    if (this.stopped || performance.now() < this.pausedUntil) return;
    this.pausedUntil = performance.now() + ms;
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    if (this.pauses++ % 2 === 0) {
      ws.pause();
      setTimeout(() => ws.resume(), ms).unref();
    } else {
      this.selfCloses++;
      ws.close(1000, 'pausing');
    }
  }

  stop(): void {
    this.stopped = true;
    this.ws?.terminate();
    this.ws = null;
  }

  /** Waits until the stream holds an id ≥ `id` (true), or `ms` passed (false). */
  async reach(id: number, ms: number): Promise<boolean> {
    const until = Date.now() + ms;
    while (this.last < id && Date.now() < until) await sleep(100);
    return this.last >= id;
  }

  private open(): void {
    if (this.stopped) return;
    const base = this.phase.nodes[this.node]!;
    const since = this.last;
    const ws = new WebSocket(`${base.replace(/^http/, 'ws')}${this.spec.path(since)}`, { headers: this.spec.headers ?? {}, handshakeTimeout: 15_000 });
    this.ws = ws;
    let opened = false;
    ws.on('upgrade', (res) => {
      const oldest = this.spec.oldestHeader ? res.headers[this.spec.oldestHeader] : undefined;
      if (typeof oldest === 'string' && Number(oldest) > since + 1) this.excused.push([since, Number(oldest)]);
    });
    ws.on('open', () => {
      opened = true;
      this.connects++;
      this.failures = 0;
      const paused = this.pausedUntil - performance.now();
      if (paused > 0) {
        ws.pause();
        setTimeout(() => ws.resume(), paused).unref();
      }
    });
    ws.on('message', (data) => {
      let f: unknown;
      try {
        f = JSON.parse(data.toString());
      } catch {
        this.malformed++;
        return;
      }
      this.frame(f);
    });
    ws.on('error', () => {
      // 'close' follows and reconnects.
    });
    ws.on('close', (code) => {
      this.closes[code] = (this.closes[code] ?? 0) + 1;
      if (this.ws === ws) this.ws = null;
      if (this.stopped) return;
      if (!opened) {
        this.failedConnects++;
        this.failures++;
        this.node = (this.node + 1) % this.phase.nodes.length;
      } else if (code === 1006) {
        // The server went away without a close frame (killed): try the next node first.
        this.node = (this.node + 1) % this.phase.nodes.length;
      }
      const wait = Math.min(RECONNECT_MAX_MS, RECONNECT_BASE_MS * 2 ** Math.min(this.failures, 6));
      setTimeout(() => this.open(), wait).unref();
    });
  }

  private frame(f: any): void {
    const id = Number(this.spec.kind === 'watch' ? f.revision : f.id);
    this.frames++;
    if (this.seen.has(id)) {
      this.duplicates.push(id);
      return;
    }
    this.seen.add(id);
    if (id < this.last) {
      this.reordered.push([id, this.last]);
    } else {
      this.last = id;
    }
    this.spec.onFrame?.(f);
  }

  /** Whether `id` was impossible to deliver: gone before a resume asked for it. */
  isExcused(id: number): boolean {
    return this.excused.some(([since, oldest]) => id > since && id < oldest);
  }
}
