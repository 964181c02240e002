import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import type { AuditTag, IdemTag, ReplyEnvelope, ReqOf, ResOf, RequestEnvelope } from '../../schemas/rpc/envelope.js';
import type { Event, WriterMethod, WriterMethods, WriterStartup } from '../../schemas/rpc/writer.js';
import { createWriterStatsBuffer, WriterStatsView } from '../../schemas/rpc/writer-stats.js';
import { decodeReply, encodeRequest, type WireReply, type WireRequest, type WriterControl, type WriterNotice } from '../../schemas/rpc/writer-wire.js';
import { AppError, fail } from '../errors.js';
import type { Logger } from '../log.js';
import { WRITER_LAZY_MS, WRITER_LIMITS, WRITER_RESTART_BACKOFF_MAX_MS, WRITER_RESTART_BACKOFF_MS } from '../shared/limits.js';
import { InFlight, type WriterStats } from './writer-in-flight.js';
import { monoNow } from '../shared/mono-clock.js';

/** The writer thread, for both backends (the start-up data's database URL selects PostgreSQL). */
const WRITER_URL = new URL('../../workers/writer/main.js', import.meta.url);

export interface WriterClientOptions {
  dbPath: string;
  logLevel: string;
  /** SQLite synchronous mode (default full). */
  sync?: 'full' | 'normal';
  deadlineMs: number;
  maxInFlight: number;
  log: Logger;
  /** Test-only writer methods (sys.sleep). Only test code sets this. */
  testHooks?: boolean;
  /** Versions kept per state key (0 = all); each write drops the one that falls out. */
  stateHistoryKeep?: number;
  /** Cluster mode: commit to this PostgreSQL instead of the SQLite file at dbPath. */
  databaseUrl?: string;
}


/**
 * Typed RPC client of the single writer worker: named methods, per-call deadline, in-flight cap,
 * status codes as AppError. A failure is a 5xx that says for certain the write did not commit, or
 * OUTCOME_UNKNOWN when it may have: the writer publishes the highest envelope id it has
 * begun to run (WriterStatsView.startedThrough), so a call past its deadline that the writer has
 * not begun fails with DEADLINE_EXCEEDED (the writer refuses an expired envelope before running
 * it), while one it has begun is waited for (WRITER_OUTCOME_GRACE_MS more) and never turned into a
 * 503 after it committed. If the worker dies, calls it had not begun fail with UNAVAILABLE (503),
 * the ones it had begun with OUTCOME_UNKNOWN (504), and a new writer is started; calls made
 * meanwhile wait for it.
 */
export class WriterClient {
  private worker: Worker | null = null;
  private port: MessagePort | null = null;
  /** Requests accepted while the writer is (re)starting, in their wire form. */
  private waiting: WireRequest[] = [];
  /** Requests of this turn, posted as one message (one structured clone, one wake-up). */
  private outbox: WireRequest[] = [];
  private outboxScheduled = false;
  /** Writes that may wait (`lazy`): they go with the next message, or WRITER_LAZY_MS after the first of them. */
  private lazy: WireRequest[] = [];
  private lazyTimer: NodeJS.Timeout | null = null;
  private nextId = 1;
  private closing = false;
  private backoff = WRITER_RESTART_BACKOFF_MS;
  private readonly uncertainListeners: Array<() => void> = [];
  /** Called before a message of replies is handled (the read side's turn snapshot ends there). */
  private beforeRepliesHook: () => void = () => {};
  /** Given the events a write stored, before its caller learns of it (see onCommitted). */
  private committedHook: (events: readonly Event[]) => void = () => {};
  /** Listeners by writer method, told of each of its committed writes (see onWrite). */
  private readonly writeListeners = new Map<string, Array<() => void>>();
  /** Set while the disk holding the database is full (the last write failed for it; none succeeded since): /health says degraded. */
  storageFull: { since: number; error: string } | null = null;
  readonly stats: WriterStats = { calls: 0, inFlight: 0, restarts: 0, deadlineExceeded: 0, outcomeUnknown: 0, rejectedFull: 0 };
  /** Batch sizes and commit latency, kept by the writer thread itself (shared memory). */
  private readonly batchStats = createWriterStatsBuffer();
  readonly batches = new WriterStatsView(this.batchStats);
  /** The calls sent and not answered, with their deadlines. */
  private readonly pending = new InFlight(this.stats, () => this.batches.startedThrough, () => this.notifyUncertain());

  constructor(private readonly opts: WriterClientOptions) {}

  /** Starts the worker; resolves when it has opened the DB and run migrations. */
  async start(): Promise<void> {
    await this.spawn();
  }

  /**
   * Called whenever a write may have committed without its caller learning the outcome
   * (writer death, a reply after the caller's deadline). Caches must drop what they hold.
   */
  onUncertain(fn: () => void): void {
    this.uncertainListeners.push(fn);
  }

  /**
   * `fn` runs before each message of replies is handled, before any caller learns of a write in
   * it: a read made after it sees those writes (the SQLite read side ends its turn's read
   * transaction there: src/backend/reads.ts).
   */
  beforeReplies(fn: () => void): void {
    this.beforeRepliesHook = fn;
  }

  /**
   * `fn` is given the events each write stored in its transaction (a reply's `events`), once,
   * before its caller learns of the write: live delivery is the path every write reply takes, not
   * something each caller must remember. A keyed retry answered as a replay announces nothing
   * (its events went out with the first write).
   */
  onCommitted(fn: (events: readonly Event[]) => void): void {
    this.committedHook = fn;
  }

  /**
   * `opts.audit`: record an audit entry with this write, in its savepoint. `opts.lazy`: a write
   * nobody waits for (a last-seen time, a lease's renewal, a session's progress): it rides with
   * the next message to the writer, or goes WRITER_LAZY_MS later — one wake-up of the writer and
   * one commit for many, not one each.
   */
  call<K extends WriterMethod>(method: K, req: ReqOf<WriterMethods, K>, opts?: { deadlineMs?: number; audit?: AuditTag; lazy?: boolean }): Promise<ResOf<WriterMethods, K>> {
    return this.post(method, req, opts ?? {}, false) as Promise<ResOf<WriterMethods, K>>;
  }

  /**
   * A write sent with an Idempotency-Key (`idem` null: an ordinary call): `replayed` when
   * this is a retry answered with the first write's result, nothing written.
   */
  callIdempotent<K extends WriterMethod>(method: K, req: ReqOf<WriterMethods, K>, idem: IdemTag | null, opts?: { audit?: AuditTag; urgent?: boolean }): Promise<{ res: ResOf<WriterMethods, K>; replayed: boolean }> {
    if (idem === null) return (this.post(method, req, opts ?? {}, false) as Promise<ResOf<WriterMethods, K>>).then((res) => ({ res, replayed: false }));
    return this.post(method, req, { ...opts, idem }, true) as Promise<{ res: ResOf<WriterMethods, K>; replayed: boolean }>;
  }

  /** `opts.urgent`: other requests of this turn will wait for this call's outcome (see the outbox below). */
  private post(method: string, req: unknown, opts: { deadlineMs?: number; audit?: AuditTag; idem?: IdemTag; urgent?: boolean; lazy?: boolean }, wrap: boolean): Promise<unknown> {
    if (this.closing) return Promise.reject(fail('SHUTTING_DOWN'));
    if (this.pending.size >= this.opts.maxInFlight) {
      this.stats.rejectedFull++;
      return Promise.reject(fail('WRITER_QUEUE_FULL'));
    }
    const id = this.nextId++;
    const deadline = monoNow() + (opts.deadlineMs ?? this.opts.deadlineMs) + (opts.lazy === true ? WRITER_LAZY_MS : 0);
    const env: RequestEnvelope = { id, method, deadline, req };
    if (opts.audit) env.audit = opts.audit;
    if (opts.idem) env.idem = opts.idem;
    const wire = encodeRequest(env);
    this.stats.calls++;
    return new Promise((resolve, reject) => {
      this.pending.add(id, { resolve: resolve as (v: unknown) => void, wrap, reject, deadline, graceUntil: 0, method });
      if (!this.port) {
        this.waiting.push(wire);
        return;
      }
      if (opts.lazy === true) {
        this.lazy.push(wire);
        this.lazyTimer ??= setTimeout(this.flushLazy, WRITER_LAZY_MS);
        return;
      }
      // A call others will wait for (`urgent`) while none else is in flight (lazy ones aside, which
      // go with it): the writer is idle, so it is posted at once rather than after this turn's
      // other requests, and its batch runs while they are parsed. The transaction of a contended
      // key that may win, with the others of that key waiting for its outcome
      // (StateService.txnGates), no longer waits for theirs to be read and parked (+9 %
      // contended compare-and-sets over four alternated pairs). Other calls
      // still go once per turn: posting the first at once split a turn of 4 PUTs into 1 + 3, two
      // commits for one (-20 % PUTs at 4 connections in one run).
      if (opts.urgent === true && this.pending.size === 1 + this.lazy.length) {
        this.port.postMessage(this.lazy.length > 0 ? [...this.takeLazy(), wire] : [wire]);
        return;
      }
      this.outbox.push(wire);
      if (!this.outboxScheduled) {
        this.outboxScheduled = true;
        setImmediate(this.flushOutbox);
      }
    });
  }

  private readonly flushOutbox = (): void => {
    this.outboxScheduled = false;
    if (this.outbox.length === 0) return;
    // The lazy writes first: most were asked for in earlier turns (and none is waited for).
    const batch = this.lazy.length > 0 ? [...this.takeLazy(), ...this.outbox] : this.outbox;
    this.outbox = [];
    this.send(batch);
  };

  /** WRITER_LAZY_MS after the first lazy write, with no other message to ride with. */
  private readonly flushLazy = (): void => {
    this.lazyTimer = null;
    if (this.lazy.length > 0) this.send(this.takeLazy());
  };

  /** One message to the writer, or kept for the next writer while it (re)starts. */
  private send(batch: WireRequest[]): void {
    if (this.port) this.port.postMessage(batch);
    else this.waiting.push(...batch);
  }

  private takeLazy(): WireRequest[] {
    const batch = this.lazy;
    this.lazy = [];
    if (this.lazyTimer !== null) clearTimeout(this.lazyTimer);
    this.lazyTimer = null;
    return batch;
  }

  get inFlight(): number {
    return this.pending.size;
  }

  get threadId(): number {
    return this.worker?.threadId ?? -1;
  }

  /** Waits until nothing is in flight or `graceMs` passed. */
  async drain(graceMs: number): Promise<void> {
    const until = Date.now() + graceMs;
    while (this.pending.size > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
  }

  /** Orderly shutdown: the writer commits what it has, closes the DB, exits. */
  async close(graceMs = 5000): Promise<void> {
    await this.drain(graceMs);
    this.closing = true;
    const worker = this.worker;
    const port = this.port;
    if (!worker || !port) {
      // Between a writer's death and its successor's `ready` (or with none): the starting thread
      // is stopped here, never left to attach after the close (it kept the process up and took
      // queued writes into a database the server had let go).
      await worker?.terminate();
      this.failAll(fail('SHUTTING_DOWN'));
      return;
    }
    const closed = new Promise<void>((resolve) => {
      const t = setTimeout(resolve, graceMs);
      port.on('message', (m: WireReply[] | WriterNotice) => {
        if (!Array.isArray(m) && m.control === 'closed') {
          clearTimeout(t);
          resolve();
        }
      });
      worker.once('exit', () => {
        clearTimeout(t);
        resolve();
      });
    });
    const close: WriterControl = { control: 'close' };
    port.postMessage(close);
    await closed;
    await worker.terminate();
    this.failAll(fail('SHUTTING_DOWN'));
  }

  /** Kills the worker abruptly (tests: writer death). */
  async kill(): Promise<void> {
    await this.worker?.terminate();
  }

  private spawn(): Promise<void> {
    const { port1, port2 } = new MessageChannel();
    const startup: WriterStartup = {
      db_path: this.opts.dbPath,
      log_level: this.opts.logLevel,
      sync: this.opts.sync ?? 'full',
      limits: WRITER_LIMITS,
      state_history_keep: this.opts.stateHistoryKeep ?? 0,
      test_hooks: this.opts.testHooks === true,
      ...(this.opts.databaseUrl ? { database_url: this.opts.databaseUrl } : {}),
    };
    const worker = new Worker(WRITER_URL, { workerData: { ...startup, port: port2, stats: this.batchStats }, transferList: [port2] });
    this.worker = worker;
    return new Promise<void>((resolve, reject) => {
      let ready = false;
      const onMessage = (msg: WireReply[] | WriterNotice): void => {
        if (Array.isArray(msg)) {
          this.beforeRepliesHook();
          for (const r of msg) this.onReply(r);
          return;
        }
        if (msg.control === 'ready') {
          if (this.closing) {
            // Closed while it started: not attached (close() stops it).
            reject(fail('SHUTTING_DOWN'));
            return;
          }
          ready = true;
          this.port = port1;
          const waiting = this.waiting.filter((wire) => this.pending.has(wire[0]));
          this.waiting = [];
          if (waiting.length > 0) port1.postMessage(waiting);
          resolve();
        } else if (msg.control === 'storage') {
          // The disk holding the database filled up, or a write succeeded again.
          this.storageFull = msg.full ? { since: Date.now(), error: msg.error ?? '' } : null;
        } else if (msg.control === 'open-failed') {
          reject(new Error(msg.message));
        }
      };
      port1.on('message', onMessage);
      worker.on('error', (err) => {
        this.opts.log.error({ err }, 'writer worker error');
        if (!ready) reject(err);
      });
      worker.on('exit', (code) => {
        // The thread's last messages can be seen after its exit, and closing the port drops them:
        // read them first. A thread that could not open the database posted why (the start never
        // settled without it); one that died after committing a batch posted its replies (they
        // were answered 504 'outcome unknown' without them).
        for (let m = receiveMessageOnPort(port1); m !== undefined; m = receiveMessageOnPort(port1)) onMessage(m.message as Parameters<typeof onMessage>[0]);
        if (!ready) reject(new Error(`the writer thread exited (code ${code}) before it was ready`));
        port1.close();
        if (this.worker !== worker) return;
        this.worker = null;
        this.port = null;
        if (!ready || this.closing) return;
        this.opts.log.error({ code, inFlight: this.pending.size }, 'writer worker died; restarting');
        this.failAll(fail('WRITER_UNAVAILABLE'));
        this.notifyUncertain();
        this.restart();
      });
    });
  }

  private restart(): void {
    this.stats.restarts++;
    const delay = this.backoff;
    this.backoff = Math.min(this.backoff * 2, WRITER_RESTART_BACKOFF_MAX_MS);
    setTimeout(() => {
      if (this.closing) return;
      this.spawn().then(
        () => {
          this.backoff = WRITER_RESTART_BACKOFF_MS;
          this.opts.log.info({ restarts: this.stats.restarts }, 'writer restarted');
        },
        (err) => {
          if (this.closing) return;
          this.opts.log.error({ err }, 'writer restart failed');
          this.failAll(fail('WRITER_UNAVAILABLE'));
          this.restart();
        },
      );
    }, delay).unref();
  }

  private onReply(wire: WireReply): void {
    const p = this.pending.take(wire[0]);
    const reply: ReplyEnvelope = decodeReply(wire, p?.method);
    if (!p) {
      // The caller already gave up (deadline). If it committed, readers' caches may be stale,
      // and what it stored goes out now.
      if (reply.ok) {
        this.notifyUncertain();
        if (reply.replayed !== true) this.announce(reply.res);
      }
      return;
    }
    if (reply.ok) {
      if (reply.replayed !== true) {
        this.announce(reply.res);
        if (this.writeListeners.size > 0) for (const fn of this.writeListeners.get(p.method) ?? []) fn();
      }
      p.resolve(p.wrap ? { res: reply.res, replayed: reply.replayed === true } : reply.res);
    } else {
      // An internal failure (disk full, I/O error) or a commit whose outcome is unknown leaves what the DB holds in doubt.
      if (reply.err.status === 'INTERNAL' || reply.err.status === 'OUTCOME_UNKNOWN') this.notifyUncertain();
      p.reject(AppError.fromWire(reply.err));
    }
  }

  /** Hands a reply's stored events to the onCommitted listener. */
  private announce(res: unknown): void {
    const events = (res as { events?: unknown } | null)?.events;
    if (!Array.isArray(events) || events.length === 0) return;
    try {
      this.committedHook(events as Event[]);
    } catch (err) {
      // Its caller's reply is not held back by a subscriber's failure; the fan-out's sweep catches up.
      this.opts.log.error({ err }, 'fanning out committed events failed');
    }
  }

  /**
   * `fn` runs after each committed write of one of `methods` (a replayed retry excepted), before
   * its caller learns of it: what a cache derived from those writes must forget. A write whose
   * outcome is unknown calls the onUncertain listeners instead.
   */
  onWrite(methods: readonly WriterMethod[], fn: () => void): void {
    for (const m of methods) {
      const list = this.writeListeners.get(m);
      if (list) list.push(fn);
      else this.writeListeners.set(m, [fn]);
    }
  }

  /** Fails every call in flight (see InFlight.failAll) and drops what was not yet sent. */
  private failAll(err: AppError): void {
    this.pending.failAll(err);
    this.waiting = [];
    this.outbox = [];
    this.takeLazy();
  }

  private notifyUncertain(): void {
    for (const fn of this.uncertainListeners) fn();
  }
}
