import type { Logger } from 'pino';

/**
 * A background job run every `everyMs` (one of each loop). Single flight: a tick while
 * the previous run is still going is skipped, and run() joins the run under way instead of
 * starting a second one. A failure is logged (at debug once stopped: a run cut short by shutdown
 * is expected) and never thrown at the timer. The timer never keeps the process alive. stop()
 * resolves once the run in flight is over; start() after stop() runs the job again (a node that
 * takes the lead again). A job that returns nothing runs synchronously within its tick.
 */
export class Periodic {
  private timer: NodeJS.Timeout | null = null;
  private inFlight: Promise<void> | null = null;
  private stopped = false;

  constructor(
    private readonly job: () => unknown,
    private readonly opts: { everyMs: number; name: string; log: Logger },
  ) {}

  /** Ticks from now on (once: a second start() changes nothing). */
  start(): this {
    this.stopped = false;
    if (this.timer) return this;
    // The interval fits a Node timer: the config refuses durations over 2^31-1 ms.
    this.timer = setInterval(() => this.tick(), this.opts.everyMs);
    this.timer.unref();
    return this;
  }

  /** No new tick; resolves once the run in flight (if any) is over. */
  stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    return this.inFlight ?? Promise.resolve();
  }

  /** A run is under way. */
  get running(): boolean {
    return this.inFlight !== null;
  }

  /** Runs the job now, or joins the run under way; resolves once it is over (never rejects). */
  run(): Promise<void> {
    if (this.inFlight) return this.inFlight;
    let out: unknown;
    try {
      out = this.job();
    } catch (err) {
      this.failed(err);
      return Promise.resolve();
    }
    if (!(out instanceof Promise)) return Promise.resolve();
    const p: Promise<void> = out.then(
      () => undefined,
      (err: unknown) => this.failed(err),
    );
    this.inFlight = p.finally(() => {
      this.inFlight = null;
    });
    return this.inFlight;
  }

  private tick(): void {
    if (this.inFlight) return void this.opts.log.debug(`${this.opts.name} still running; tick skipped`);
    void this.run();
  }

  private failed(err: unknown): void {
    if (this.stopped) this.opts.log.debug({ err }, `${this.opts.name} ended by shutdown`);
    else this.opts.log.warn({ err }, `${this.opts.name} failed; retrying at the next tick`);
  }
}
