import type { Piscina } from 'piscina';
import type { ReqOf, ResOf } from '../../schemas/rpc/envelope.js';
import type { PoolMethods } from '../../schemas/rpc/pool.js';
import { AppError, fail, internal } from '../errors.js';
import type { Logger } from '../log.js';
import { POOL_IDLE_MS, POOL_MAX_QUEUE_WAIT_MS, POOL_RESOURCE_LIMITS } from '../shared/limits.js';
import { POOL_START_MS } from '../shared/limits-features.js';

const POOL_URL = new URL('../../workers/pool/main.js', import.meta.url).href;

export interface PoolClientOptions {
  threads: number;
  deadlineMs: number;
  /** Jobs waiting beyond the running ones before RESOURCE_EXHAUSTED. */
  maxQueue: number;
  log: Logger;
  /** Threads idle this long end (tests shorten it); default POOL_IDLE_MS. */
  idleMs?: number;
}

/** An abort signal for a clocked job: fires `deadlineMs` after the job started running. */
function clockedSignal(clock: { sab: SharedArrayBuffer; base: number }, deadlineMs: number): { signal: AbortSignal; done: () => void } {
  const ac = new AbortController();
  const started = new Int32Array(clock.sab);
  let timer: NodeJS.Timeout;
  const check = (): void => {
    const at = Atomics.load(started, 0);
    const now = Date.now();
    const left = at < 0 ? Math.min(deadlineMs, clock.base + POOL_MAX_QUEUE_WAIT_MS - now) : clock.base + at + deadlineMs - now;
    if (left <= 0) return ac.abort(new DOMException('job exceeded its time budget', 'TimeoutError'));
    timer = setTimeout(check, left);
    timer.unref();
  };
  timer = setTimeout(check, deadlineMs);
  timer.unref();
  return { signal: ac.signal, done: () => clearTimeout(timer) };
}

/**
 * CPU jobs (diff, validation, compliance) on a piscina pool: bounded queue, per-job deadline
 * (an overdue job's worker is terminated and replaced by piscina), status codes as AppError.
 */
export class PoolClient {
  /**
   * Lazy: piscina is loaded with the first job, no thread starts before it, and
   * threads idle for a minute end. A thread costs ~15 MB of RSS and ~0.1 s of start-up, which an
   * idle server (most of them: diff, validation and compliance are occasional) should not pay. A
   * clocked job's budget counts from when its thread started it, so a start-up is not charged.
   */
  private pool: Piscina | null = null;
  private loading: Promise<Piscina> | null = null;
  private booting: Promise<void> | null = null;
  private closed = false;
  readonly stats = { jobs: 0, timeouts: 0, rejectedFull: 0 };

  constructor(private readonly opts: PoolClientOptions) {}

  private open(): Promise<Piscina> {
    return (this.loading ??= import('piscina').then(({ Piscina }) => {
      if (this.closed) throw fail('SHUTTING_DOWN');
      this.pool = new Piscina({
        filename: POOL_URL,
        minThreads: 0,
        maxThreads: this.opts.threads,
        maxQueue: this.opts.maxQueue,
        idleTimeout: this.opts.idleMs ?? POOL_IDLE_MS,
        resourceLimits: POOL_RESOURCE_LIMITS,
      });
      return this.pool;
    }));
  }

  /**
   * The pool with a thread running: loading piscina and booting a thread after the idle stop
   * (import, module graph, ~0.1 s, seconds on a loaded box) happen before a job's deadline starts.
   */
  private async ready(): Promise<Piscina> {
    const pool = this.pool ?? (await this.open());
    if (pool.threads.length === 0) {
      await (this.booting ??= pool
        .run({}, { name: 'ping', signal: AbortSignal.timeout(POOL_START_MS) })
        .then(
          () => undefined,
          () => undefined,
        )
        .finally(() => {
          this.booting = null;
        }));
    }
    return pool;
  }

  /** Threads running now (0 once all ended after idling). */
  get threadCount(): number {
    return this.pool?.threads.length ?? 0;
  }

  /**
   * Runs a job under its deadline, counted once the pool is ready (not its cold start). For a job that carries a JobClock (schemas/rpc/pool.ts) the
   * deadline counts from when a worker started it, so time spent queued (behind other jobs, or
   * waiting for a replacement worker) is not charged to it; queued time is bounded by
   * POOL_MAX_QUEUE_WAIT_MS instead.
   */
  async run<K extends keyof PoolMethods>(name: K, req: ReqOf<PoolMethods, K>, opts?: { deadlineMs?: number }): Promise<ResOf<PoolMethods, K>> {
    this.stats.jobs++;
    const deadlineMs = opts?.deadlineMs ?? this.opts.deadlineMs;
    // No budget at all: over it before it runs (a warm pool could otherwise beat a 0 ms timer).
    if (deadlineMs <= 0) {
      this.stats.timeouts++;
      throw fail('JOB_OVER_BUDGET', name);
    }
    const clock = req as { clock?: unknown; clock_base?: number };
    let timed = { signal: undefined as AbortSignal | undefined, done: () => {} };
    try {
      const pool = name === 'ping' ? (this.pool ?? (await this.open())) : await this.ready();
      timed =
        clock.clock instanceof SharedArrayBuffer
          ? clockedSignal({ sab: clock.clock, base: clock.clock_base! }, deadlineMs)
          : { signal: AbortSignal.timeout(deadlineMs), done: () => {} };
      return await pool.run(req, { name, signal: timed.signal });
    } catch (err) {
      if (err instanceof AppError) throw err;
      const e = err as Error;
      if (e.name === 'AbortError' || e.name === 'TimeoutError') {
        this.stats.timeouts++;
        throw fail('JOB_OVER_BUDGET', name);
      }
      if (/queue is at limit/i.test(e.message)) {
        this.stats.rejectedFull++;
        throw fail('POOL_QUEUE_FULL');
      }
      this.opts.log.error({ err, job: name }, 'pool job failed');
      throw internal(name, err);
    } finally {
      timed.done();
    }
  }

  /**
   * Resolves once every thread has started and answered (a job's time budget should not include
   * a worker's start-up). Bounded by `timeoutMs`.
   */
  async warmUp(timeoutMs = 30_000): Promise<void> {
    const jobs = Array.from({ length: this.opts.threads }, () => this.run('ping', {}, { deadlineMs: timeoutMs }));
    await Promise.all(jobs);
  }

  get queueSize(): number {
    return this.pool?.queueSize ?? 0;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.pool?.close({ force: true });
  }
}
