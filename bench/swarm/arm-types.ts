/**
 * What an arm of the swarm bench is given (ArmSpec, its teams, the servers it may share) and what
 * it gives back (ArmResult: its sessions, teams, the server's view): the contract between
 * bench/swarm/arm.ts, which runs an arm, and the report and the suite, which read it.
 */
import type { FakeApi } from '../clients/claude-code.js';
import type { Postgres } from '../lib/postgres.js';
import type { ServerProc } from '../lib/processes.js';
import type { StepRecord } from './agent.js';
import type { SwarmTask } from './backlog.js';
import type { HookCall } from './harness.js';
import type { Elsewhere, KoorText, RequestDigest } from './injected.js';
import type { MarkerAudit } from './repo.js';
import type { SeatRun, SwarmClient } from './wires.js';

/** One team of an arm: a repository, its sessions, its backlog. */
export interface TeamSpec {
  /** Its label: `shop` (the single-team arms), `alpha`, `beta`, `gamma`. */
  name: string;
  /** The folder its origin is in (`<tmp>/<owner>/shop.git`): Koor's project for its clones is `<owner>.shop`. */
  owner: string;
  /** Its sessions' names (KOOR_AGENT_NAME), each with a clone at `<tmp>/<name>/shop`. */
  sessions: string[];
  /** Its backlog: tasks of MAIN_PROJECT (created in the team's project), and of LATE_PROJECT later for its idle session. */
  tasks: SwarmTask[];
  /** The single-team arm's roles: a tester (first), a victim killed mid-task (second), an idle session woken by later tasks (last). Without: all workers. */
  roles: boolean;
  /** Each session's client, by index (default: Claude Code for all; a mixed team is Koor's only). */
  clients?: SwarmClient[];
  /**
   * A team only there to load the box as a team does, on a server of its own (its tasks created
   * there, its clones' hooks and koor-cli pointed there): not polled, not counted, not waited for —
   * its sessions are killed once the arm's other teams are done.
   */
  load?: SharedServer;
}

/** Servers an arm runs on without starting or stopping them (another arm runs on them too). */
export interface SharedServer {
  nodes: ServerProc[];
  /** PostgreSQL's postmaster (the cluster), for its CPU. */
  postgresPid: number | null;
}

export interface ArmSpec {
  kind: 'koor' | 'baseline';
  /** Row label: `baseline`, `koor sqlite`, `koor sqlite, auto-lease 10s`, `koor 3 nodes pg`. */
  label: string;
  backend: 'sqlite' | 'cluster' | 'none';
  /** Extra koor-server flags (the auto-lease lifetime, when the server has the setting). */
  serverArgs: string[];
  /** The auto-lease lifetime this arm runs with, in ms (null: for as long as the agent lives). */
  autoLeaseMs: number | null;
  sessions: number;
  tasks: SwarmTask[];
  /** Koor features the server has. */
  features: { paths: boolean; checkpoints: boolean };
  /** The arm is stopped this long after its sessions start, whatever is left. */
  budgetMs: number;
  /** koor-server --liveness-timeout: how long after its last sign of life a killed agent's task goes back. */
  livenessTimeout: string;
  /** The tester's test suite, seconds: one Bash call longer than the liveness timeout (0: no tester). */
  testRunS: number;
  /** Baseline: an agent stops polling an unchanged tasks.json after this long. */
  giveUpMs: number;
  /** The fake model's think time: each answer is sent this long after its request arrived (a real model takes seconds). */
  thinkMs: number;
  pg: Postgres | null;
  log: (m: string) => void;
  /** The teams (default: one, `shop`, with the roles, `sessions` sessions and `tasks`). */
  teams?: TeamSpec[];
  /** Run on these servers (default: start them for the arm, by `backend`, and stop them after). */
  server?: SharedServer;
  /** Other repositories on the shared server, named nowhere in this arm's sessions' context if all is well. */
  elsewhere?: Elsewhere;
  /** Every session's HTTP hooks through a timing pass-through (default: the idle session's only). */
  timeHooks?: boolean;
}

export interface SessionResult {
  name: string;
  /** Its team's name. */
  team: string;
  role: 'worker' | 'victim' | 'idle' | 'tester' | 'load';
  client: SwarmClient;
  node: number;
  api: FakeApi;
  /** What the report reads of its model requests (their bodies are dropped once answered). */
  seen: RequestDigest;
  /** Koor's text in its requests, counted alike for every client. */
  koor: KoorText;
  run: SeatRun | null;
  requests: number;
  startedAt: number;
  endedAt: number;
}

/** One team of an arm, as it ran. */
export interface TeamResult {
  name: string;
  owner: string;
  /** Koor's project for its repository, as `koor-cli init` printed it (the baseline: MAIN_PROJECT). */
  project: string;
  /** Why (`from the origin remote …`). */
  why: string;
  sessions: string[];
  /** Its tasks' keys. */
  keys: string[];
  /** Its origin's markers. */
  audit: MarkerAudit;
}

export interface ArmResult {
  spec: Omit<ArmSpec, 'tasks' | 'pg' | 'log' | 'teams' | 'server' | 'elsewhere'>;
  t0: number;
  /** When every task was done (Koor: the server says so; baseline: the last completion), or null. */
  drainedAt: number | null;
  endedAt: number;
  records: StepRecord[];
  sessions: SessionResult[];
  /** Late tasks: key and when the harness created them (before the POST / push). */
  late: Array<{ key: string; at: number }>;
  leases: PolledLease[];
  tasks: PolledTask[];
  /** Agents' names in the order the poller first saw them, with when. */
  joins: Array<{ name: string; at: number }>;
  /** Koor: each task's final state on the server. */
  final: Array<{ key: string; status: string; attempts: number; claimed_by_name: string }>;
  /** Every team's origin's markers together. */
  audit: MarkerAudit;
  teams: TeamResult[];
  /** Koor: the edit refusals the server audited for this arm's agents. */
  denials: AuditDenial[];
  /** Tasks whose completion the arm expected markers for (done once). */
  doneKeys: string[];
  /** CPU of the server(s) during the arm, minus what the poller alone costs (idleCpu). */
  serverCpuS: number | null;
  postgresCpuS: number | null;
  hookCalls: Record<string, number> | null;
  /** What the server(s) and PostgreSQL spent with only the poller running (cores), taken out of serverCpuS / postgresCpuS. */
  idleCpu: { server_cores: number; postgres_cores: number } | null;
  /** Every `koor-cli wait` that returned (the Stop hook's waiter: hook true). */
  waits: Array<{ at: number; code: number; agent: string; hook: boolean }>;
  /** The idle session's hook calls, timed at a pass-through (Koor arms). */
  idleHooks: HookCall[];
  /** Every hook call timed at a pass-through (the idle session's; every session's with timeHooks). */
  hooks: HookCall[];
  /** The box's 1-minute load average when the sessions started and when they had ended (other work on the box shows here). */
  loadavg: [number, number];
  warnings: string[];
}

/** A lease as the poller saw it: its span (first and last seen). */
export interface PolledLease {
  id: string;
  /** The project its paths are in. */
  project: string;
  holder_name: string;
  resources: string[];
  reason: string;
  first: number;
  last: number;
}

/** A task as the poller saw it: its status changes. */
export interface PolledTask {
  id: number;
  key: string;
  project: string;
  /** Status changes as the poller saw them. */
  changes: Array<{ status: string; at: number; by: string }>;
}

/** An edit refusal from the server's audit (`lease.denied`), with the refused session's and the holder's projects. */
export interface AuditDenial {
  at: string;
  /** The refused agent. */
  actor: string;
  holder: string;
  path: string;
  lease: string;
  /** The project the audit entry names (the refused session's; null from a server that does not say). */
  project: string | null;
  /** The refused agent's project (its registration's workspace: a hook session's agent registers with its project). */
  actor_project: string | null;
  /** The holder's project (its registration), and the lease's (the poller's view; null when it never saw the lease). */
  holder_project: string | null;
  lease_project: string | null;
}
