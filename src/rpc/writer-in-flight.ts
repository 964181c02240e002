import { AppError, fail } from '../errors.js';
import { WRITER_OUTCOME_GRACE_MS } from '../shared/limits.js';
import { monoNow } from '../shared/mono-clock.js';

/** A call sent to the writer and not answered yet. */
export interface Pending {
  resolve: (v: unknown) => void;
  /** Resolve with `{ res, replayed }` (callIdempotent). */
  wrap: boolean;
  reject: (e: AppError) => void;
  /** monoNow() past which a call the writer has not begun gets DEADLINE_EXCEEDED (the monotonic clock: a wall-clock step neither fails calls nor stretches them). */
  deadline: number;
  /** A call the writer had begun when its deadline passed: monoNow() past which it is `outcome unknown` (0: not overdue yet). */
  graceUntil: number;
  method: string;
}

export interface WriterStats {
  calls: number;
  inFlight: number;
  restarts: number;
  deadlineExceeded: number;
  /** Calls answered `outcome unknown` (504): begun by the writer, no reply (its death, or past the grace). */
  outcomeUnknown: number;
  rejectedFull: number;
}

/**
 * The writer's calls in flight, with their deadlines: one timer for all of them, armed for the
 * earliest. `startedThrough`: the highest envelope id the writer has begun (a call past it has
 * certainly not committed); `uncertain`: called when a call may have committed unanswered.
 */
export class InFlight {
  private readonly calls = new Map<number, Pending>();
  private timer: NodeJS.Timeout | null = null;
  private at = Infinity;

  constructor(
    private readonly stats: WriterStats,
    private readonly startedThrough: () => number,
    private readonly uncertain: () => void,
  ) {}

  get size(): number {
    return this.calls.size;
  }

  has(id: number): boolean {
    return this.calls.has(id);
  }

  add(id: number, p: Pending): void {
    this.calls.set(id, p);
    this.stats.inFlight = this.calls.size;
    if (p.deadline < this.at) this.arm(p.deadline);
  }

  /** The call `id` answered: no longer in flight (undefined if its caller already gave up). */
  take(id: number): Pending | undefined {
    const p = this.calls.get(id);
    if (p === undefined) return undefined;
    this.calls.delete(id);
    this.stats.inFlight = this.calls.size;
    return p;
  }

  /**
   * Fails every pending call: with `err` the ones the writer had not begun (certainly not
   * committed), with OUTCOME_UNKNOWN the ones it had (they may have committed; caches drop what
   * they hold).
   */
  failAll(err: AppError): void {
    const started = this.startedThrough();
    let uncertain = false;
    for (const [id, p] of this.calls) {
      this.calls.delete(id);
      if (id > started) p.reject(err);
      else {
        uncertain = true;
        this.stats.outcomeUnknown++;
        p.reject(fail('WRITE_OUTCOME_UNKNOWN', p.method));
      }
    }
    this.stats.inFlight = 0;
    if (uncertain) this.uncertain();
  }

  private arm(at: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.at = at;
    this.timer = setTimeout(this.sweep, Math.max(0, at - monoNow()));
    this.timer.unref();
  }

  /**
   * Fails every call past its deadline that the writer has not begun (certainly not committed:
   * the writer refuses an expired envelope), gives one it has begun the grace to answer, and
   * re-arms for the earliest left. A timer per call cost a timer-list insert and removal per
   * write; this one fires about once per deadline period under load and scans at most
   * maxInFlight entries when it does. Replies that arrived while the process was paused are
   * read before a begun call is given up on: the sweep runs in the timers phase, before the
   * port's messages, so the verdict waits for the check phase (setImmediate) after them.
   */
  private readonly sweep = (): void => {
    this.timer = null;
    this.at = Infinity;
    const now = monoNow();
    const started = this.startedThrough();
    let next = Infinity;
    let givingUp = false;
    for (const [id, p] of this.calls) {
      // Strictly past: the writer refuses an envelope whose deadline is strictly before its clock.
      if (p.deadline >= now) {
        if (p.deadline + 1 < next) next = p.deadline + 1;
      } else if (id > started) {
        this.calls.delete(id);
        this.stats.deadlineExceeded++;
        p.reject(fail('DEADLINE_EXCEEDED', p.method));
      } else if (p.graceUntil === 0) {
        p.graceUntil = now + WRITER_OUTCOME_GRACE_MS;
        if (p.graceUntil < next) next = p.graceUntil;
      } else if (p.graceUntil <= now) givingUp = true;
      else if (p.graceUntil < next) next = p.graceUntil;
    }
    this.stats.inFlight = this.calls.size;
    if (givingUp) setImmediate(this.giveUp);
    if (next !== Infinity) this.arm(next);
  };

  /** Begun calls still unanswered past their grace: outcome unknown (see sweep). */
  private readonly giveUp = (): void => {
    const now = monoNow();
    let gaveUp = false;
    for (const [id, p] of this.calls) {
      if (p.graceUntil === 0 || p.graceUntil > now) continue;
      this.calls.delete(id);
      this.stats.outcomeUnknown++;
      p.reject(fail('WRITE_OUTCOME_UNKNOWN', p.method));
      gaveUp = true;
    }
    this.stats.inFlight = this.calls.size;
    if (gaveUp) this.uncertain();
  };
}
