/**
 * The server's own presence: liveness and lease TTLs must never be judged against the
 * server's absence. A probe on the monotonic clock notices when this process was held up (SIGSTOP,
 * a VM pause, a long GC, a blocked event loop) or when the wall clock stepped (NTP, VM resume):
 * either is an "absence". After one, nobody is judged stale until a full grace period (the
 * liveness timeout) has passed on the monotonic clock since the resumption, and the wall-clock time
 * the server missed is credited to TTL leases (`onAbsence`), so one incident never turns into
 * "everyone stale, every lease released". The process start counts as a resumption too: agents
 * get a full timeout to heartbeat a restarted server.
 */

import { dataNow } from '../../../schemas/db/time.js';

/** The two clocks, injectable for tests: monotonic (ms, any origin) and wall (ms since the epoch). */
export interface Clock {
  mono(): number;
  wall(): number;
}

/**
 * The smallest hold-up or clock step that counts as an absence for a liveness timeout: a quarter of
 * it (an agent heartbeating well within its timeout survives less unharmed), at least 1 s (event-loop
 * jitter on a loaded machine is not an incident), at most 30 s.
 */
export function presenceTolerance(timeoutMs: number): number {
  return Math.min(30_000, Math.max(1000, Math.floor(timeoutMs / 4)));
}

/**
 * The data's wall clock (dataNow): on one server its own, which NTP or a VM resume may step; on a
 * cluster's node the database's, carried on the monotonic clock, which a step of the node's own
 * clock does not move — so a node whose clock steps does not shift every lease of the cluster.
 */
const systemClock: Clock = { mono: () => performance.now(), wall: dataNow };

/** What one absence was: how long the loop was held up (monotonic) and the wall-clock time not lived through by the server. */
export interface Absence {
  /** Monotonic ms the probe was late by. */
  heldMs: number;
  /** Wall-clock ms that passed (or stepped, negative for a backward step) beyond the time the server was present. */
  missedWallMs: number;
}

export interface PresenceOptions {
  /** How often the probe samples, ms. */
  probeMs: number;
  /** A lateness or wall/monotonic disagreement above this is an absence, ms (jitter under it is not). */
  toleranceMs: number;
  /** The grace after an absence (the liveness timeout), ms. */
  graceMs: number;
  clock?: Clock;
}

export class Presence {
  private readonly clock: Clock;
  private lastMono: number;
  private lastWall: number;
  private presentSince: number;
  private timer: NodeJS.Timeout | null = null;
  private readonly listeners: Array<(a: Absence) => void> = [];
  /** The longest lateness since start and the last one seen, ms (GET /health). */
  maxLagMs = 0;
  lastLagMs = 0;
  absences = 0;

  constructor(private readonly opts: PresenceOptions) {
    this.clock = opts.clock ?? systemClock;
    this.lastMono = this.clock.mono();
    this.lastWall = this.clock.wall();
    this.presentSince = this.lastMono;
  }

  /** Compares the clocks with the last sample; an absence starts a grace period. Cheap: call before any judgement. */
  sample(): void {
    const mono = this.clock.mono();
    const wall = this.clock.wall();
    const monoDelta = mono - this.lastMono;
    const wallDelta = wall - this.lastWall;
    this.lastMono = mono;
    this.lastWall = wall;
    const late = Math.max(0, monoDelta - this.opts.probeMs);
    this.lastLagMs = late;
    if (late > this.maxLagMs) this.maxLagMs = late;
    const held = late > this.opts.toleranceMs;
    const stepped = Math.abs(wallDelta - monoDelta) > this.opts.toleranceMs;
    if (!held && !stepped) return;
    // The server was present for at most one probe period of this gap; the rest of the wall time was missed.
    const present = held ? Math.min(monoDelta, this.opts.probeMs) : monoDelta;
    this.absences++;
    this.presentSince = mono;
    const a: Absence = { heldMs: held ? late : 0, missedWallMs: Math.round(wallDelta - present) };
    for (const l of this.listeners) l(a);
  }

  /** True when the server has been present for a full grace period: staleness may be judged. */
  judging(): boolean {
    this.sample();
    return this.clock.mono() - this.presentSince >= this.opts.graceMs;
  }

  /** Starts a full grace period now (a node that takes over the liveness job). */
  resume(): void {
    this.sample();
    this.presentSince = this.clock.mono();
  }

  /** Monotonic ms left of the current grace period (0 once judging). */
  graceLeftMs(): number {
    return Math.max(0, Math.round(this.opts.graceMs - (this.clock.mono() - this.presentSince)));
  }

  onAbsence(l: (a: Absence) => void): () => void {
    this.listeners.push(l);
    return () => {
      const i = this.listeners.indexOf(l);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.sample(), this.opts.probeMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
