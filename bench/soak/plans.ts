/**
 * The soak's schedules: how long each phase (one SQLite server; a cluster on PostgreSQL) runs,
 * from when it must stay flat, on how many nodes, and which faults strike when (SIGSTOP, kill -9
 * and a restart, a PostgreSQL restart).
 */

export type FaultKind = 'stop' | 'kill' | 'pg-restart';

export interface Fault {
  /** Seconds after the traffic started. */
  at: number;
  kind: FaultKind;
  node?: number;
  /** stop: how long stopped; kill: how long down before the restart; pg-restart: how long PostgreSQL stays down. */
  ms: number;
}

export interface Plan {
  durationS: number;
  /** The fault-free window at the end, where memory and disk must stay flat, starts here. */
  steadyFromS: number;
  nodes: number;
  faults: Fault[];
}

/**
 * The schedules. The writer's deadline is 5 s: a SIGSTOP longer than that makes writes in flight
 * time out as the process resumes (the case a 503 must not be given for a write that committed).
 */
export const PLANS: Record<'sqlite' | 'cluster', { quick: Plan; full: Plan }> = {
  sqlite: {
    quick: {
      durationS: 60,
      steadyFromS: 40,
      nodes: 1,
      faults: [
        { at: 6, kind: 'stop', ms: 4000 },
        { at: 13, kind: 'kill', ms: 1000 },
        { at: 19, kind: 'stop', ms: 6500 },
        { at: 28, kind: 'kill', ms: 500 },
      ],
    },
    full: {
      durationS: 330,
      steadyFromS: 250,
      nodes: 1,
      faults: [
        { at: 20, kind: 'stop', ms: 5000 },
        { at: 45, kind: 'kill', ms: 1000 },
        { at: 70, kind: 'stop', ms: 3000 },
        { at: 95, kind: 'kill', ms: 2000 },
        { at: 120, kind: 'stop', ms: 8000 },
        { at: 145, kind: 'kill', ms: 500 },
        { at: 170, kind: 'stop', ms: 6000 },
        { at: 195, kind: 'kill', ms: 1000 },
        { at: 215, kind: 'stop', ms: 4000 },
        { at: 235, kind: 'kill', ms: 1000 },
      ],
    },
  },
  cluster: {
    quick: {
      durationS: 40,
      steadyFromS: 30,
      nodes: 2,
      faults: [
        { at: 8, kind: 'kill', node: 1, ms: 2000 },
        { at: 16, kind: 'pg-restart', ms: 1500 },
        { at: 24, kind: 'stop', node: 0, ms: 3000 },
      ],
    },
    full: {
      durationS: 200,
      steadyFromS: 140,
      nodes: 3,
      faults: [
        { at: 15, kind: 'kill', node: 1, ms: 2000 },
        { at: 35, kind: 'pg-restart', ms: 1500 },
        { at: 55, kind: 'stop', node: 0, ms: 6000 },
        { at: 75, kind: 'kill', node: 2, ms: 1000 },
        { at: 95, kind: 'pg-restart', ms: 3000 },
        { at: 115, kind: 'kill', node: 0, ms: 1000 },
      ],
    },
  },
};
