import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import type { DeliveryEvents, DeliveryRun, DeliveryRunResult, DeliveryStartup } from '../../schemas/rpc/delivery.js';
import { type AppError, fail } from '../errors.js';
import type { Logger } from '../log.js';

const DELIVERY_URL = new URL('../../workers/delivery/main.js', import.meta.url);

export interface DeliveryClientOptions {
  /** The data file: the thread reads logged events' bodies from it (read-only). */
  dbPath: string;
  timeoutMs: number;
  maxReplyBytes: number;
  maxSockets: number;
  /** Nice value of the delivery thread. */
  nice: number;
  /** Runs in flight at once; more are refused (the dispatcher never asks for more). */
  maxInFlight: number;
  log: Logger;
  /** A webhook's secret as stored → the secret that signs (stored encrypted). */
  openSecret?: (stored: string) => string;
}

interface Pending {
  resolve: (r: DeliveryRunResult) => void;
  reject: (e: AppError) => void;
  timer: NodeJS.Timeout;
}

/** What a run achieved: the first `delivered` bodies got through; `error` says why the next did not. */
export type RunOutcome = Omit<DeliveryRunResult, 'id'>;

/**
 * Typed RPC client of the webhook delivery thread (schemas/rpc/delivery.ts): an id per run, a
 * deadline per run (every body may take the whole timeout), an in-flight cap. If the thread
 * dies, the runs in flight fail with UNAVAILABLE (the webhooks' cursors do not move: sent
 * again) and a new thread is started.
 */
export class DeliveryClient {
  private worker: Worker | null = null;
  private port: MessagePort | null = null;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closing = false;
  private starting: Promise<void> | null = null;

  constructor(private readonly opts: DeliveryClientOptions) {}

  start(): Promise<void> {
    return (this.starting ??= this.spawn().finally(() => (this.starting = null)));
  }

  /** POSTs `what` to `url`: given bodies, or logged events the thread reads itself. `secret` as stored (opened here). */
  async run(url: string, secret: string, what: { bodies: string[] } | { events: DeliveryEvents }): Promise<RunOutcome> {
    if (this.closing) throw fail('SHUTTING_DOWN');
    if (this.pending.size >= this.opts.maxInFlight) throw fail('DELIVERY_QUEUE_FULL');
    if (!this.port) await this.start();
    const port = this.port;
    if (!port) throw fail('DELIVERY_NOT_RUNNING');
    const id = this.nextId++;
    const msg: DeliveryRun = { id, url, secret: this.opts.openSecret ? this.opts.openSecret(secret) : secret, ...what };
    const count = 'bodies' in what ? what.bodies.length : (what.events.ids?.length ?? what.events.upto - what.events.after);
    const deadlineMs = count * (this.opts.timeoutMs + 1000) + 5000;
    const r = await new Promise<DeliveryRunResult>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (!this.pending.delete(id)) return;
        reject(fail('DEADLINE_EXCEEDED', 'webhook delivery'));
      }, deadlineMs);
      timer.unref();
      this.pending.set(id, { resolve, reject, timer });
      port.postMessage(msg);
    });
    // An events run that failed with no event to blame could not read the log: not settled.
    if (r.error !== undefined && 'events' in what && r.failed_event === undefined) throw fail('DELIVERY_LOG_UNREADABLE', r.error);
    const { id: _id, ...outcome } = r;
    return outcome;
  }

  /** Aborts every attempt under way: their runs resolve with what got through. */
  abortAll(): void {
    this.port?.postMessage({ control: 'abort' });
  }

  async close(): Promise<void> {
    this.closing = true;
    this.failAll(fail('SHUTTING_DOWN'));
    const w = this.worker;
    this.worker = null;
    this.port = null;
    await w?.terminate();
  }

  private failAll(err: AppError): void {
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.pending.clear();
  }

  private spawn(): Promise<void> {
    const { port1, port2 } = new MessageChannel();
    const startup: DeliveryStartup = { timeout_ms: this.opts.timeoutMs, max_reply_bytes: this.opts.maxReplyBytes, max_sockets: this.opts.maxSockets, nice: this.opts.nice, db_path: this.opts.dbPath };
    const worker = new Worker(DELIVERY_URL, { workerData: { ...startup, port: port2 }, transferList: [port2] });
    worker.unref();
    this.worker = worker;
    return new Promise<void>((resolve, reject) => {
      port1.on('message', (m: DeliveryRunResult | { control: 'ready'; warning?: string }) => {
        if ('control' in m) {
          if (m.warning) this.opts.log.warn({ warning: m.warning }, 'webhook delivery thread runs at the server priority');
          this.port = port1;
          resolve();
          return;
        }
        const p = this.pending.get(m.id);
        if (!p) return;
        this.pending.delete(m.id);
        clearTimeout(p.timer);
        p.resolve(m);
      });
      worker.once('error', (err) => this.opts.log.error({ err }, 'webhook delivery thread failed'));
      worker.once('exit', (code) => {
        if (this.worker === worker) {
          this.worker = null;
          this.port = null;
        }
        port1.close();
        // Settled whatever the reason: a start that close() cut short must not leave its caller waiting.
        reject(this.closing ? fail('SHUTTING_DOWN') : new Error(`webhook delivery thread exited with code ${code}`));
        if (this.closing) return;
        this.opts.log.warn({ code }, 'webhook delivery thread exited; the next run starts a new one');
        this.failAll(fail('DELIVERY_EXITED'));
      });
    });
  }
}
