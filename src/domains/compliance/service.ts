import type { ContractViolation } from '../../../schemas/rpc/pool.js';
import type { Logger } from '../../log.js';
import type { PoolClient } from '../../rpc/pool-client.js';
import type { WriterClient } from '../../rpc/writer-client.js';
import { Periodic } from '../../shared/periodic.js';
import { COMPLIANCE_RUN } from '../../../schemas/db/tables/compliance.js';
import type { ComplianceRun } from '../../../schemas/http/compliance.js';
import type { Awaitable } from '../../shared/awaitable.js';
import type { ComplianceReader } from './reader.js';

/** Agents to check: the instance registry. Only `active` ones with a workspace count. */
export interface InstanceSource {
  list(filter: Record<string, never>): Awaitable<ReadonlyArray<{ id: string; workspace: string; status: string }>>;
}

/** Where contracts live: the spec registry. `get` throws when the spec is gone. */
export interface SpecSource {
  list(project: string): Awaitable<{ specs: ReadonlyArray<{ name: string }> }>;
  get(project: string, name: string): Awaitable<{ data: Uint8Array; hash: string }>;
}

/** Publishes an event through the bus (wired to the events domain in server.ts). */
export type Publish = (topic: string, data: string, source: string) => Promise<unknown>;

/** A compliance run as the API shows it; `run_at` RFC 3339 UTC. */
type Run = ComplianceRun;

export interface ComplianceOptions {
  intervalMs: number;
  /** Runs kept per (instance, contract); 0 = all. */
  keep: number;
  log: Logger;
}

/**
 * Compliance: a pass checks the contracts of every active instance's
 * project (its workspace) for well-formedness, records one run per (instance, contract) and
 * publishes `compliance.violation` for each failing one. Passes run on a timer and on demand,
 * one at a time: a scheduled tick while a pass is running (or queued) is skipped, and an
 * on-demand run during a pass waits for it and then runs its own pass, which every caller
 * arriving in the meantime shares (so a caller always sees a pass started after its request).
 */
export class ComplianceService {
  /** Since start: passes, runs written, runs removed by retention. */
  readonly stats = { passes: 0, runs_recorded: 0, runs_pruned: 0 };
  private readonly timer: Periodic;
  private running: Promise<Run[]> | null = null;
  private queued: Promise<Run[]> | null = null;
  private stopped = false;

  constructor(
    private readonly reader: ComplianceReader,
    private readonly writer: WriterClient,
    private readonly pool: PoolClient,
    private readonly instances: InstanceSource,
    private readonly specs: SpecSource,
    private readonly publish: Publish,
    private readonly opts: ComplianceOptions,
  ) {
    this.timer = new Periodic(
      () => {
        // A pass on demand under way (or queued): this tick is skipped too, as the timer's own.
        if (this.running !== null || this.queued !== null) return void this.opts.log.debug('compliance pass still running; tick skipped');
        return this.begin();
      },
      { everyMs: opts.intervalMs, name: 'compliance pass', log: opts.log },
    );
  }

  /** `GET /api/compliance/history` as JSON text: newest first, violations spliced as stored. */
  async historyJson(instanceId: string | null, limit: number): Promise<string> {
    const rows = await this.reader.history(instanceId, limit);
    return `[${rows.map((r) => COMPLIANCE_RUN.json(COMPLIANCE_RUN.decode(r))).join(',')}]`;
  }

  /** A pass now (`POST /api/compliance/run`), after the one in progress if any. */
  run(): Promise<Run[]> {
    if (this.running === null) return this.begin();
    this.queued ??= this.running
      .catch(() => undefined)
      .then(() => {
        this.queued = null;
        return this.begin();
      });
    return this.queued;
  }

  start(): void {
    // Started again (a node that takes the lead again, a restored database): passes record again.
    this.stopped = false;
    this.timer.start();
  }

  /** No new pass starts; one in progress stops before its next write (resolves once it has). */
  stop(): Promise<void> {
    this.stopped = true;
    return this.timer.stop();
  }

  private begin(): Promise<Run[]> {
    const p = this.pass().finally(() => {
      this.running = null;
    });
    this.running = p;
    return p;
  }

  /** Contracts of a project with their violations (none when it has none, or its check failed). */
  private async checkProject(project: string): Promise<Array<{ name: string; violations: ContractViolation[] }>> {
    const specs: Array<{ name: string; data: Uint8Array; hash: string }> = [];
    for (const { name } of (await this.specs.list(project)).specs) {
      try {
        const s = await this.specs.get(project, name);
        specs.push({ name, data: s.data, hash: s.hash });
      } catch {
        // deleted since the list was read: not part of this pass
      }
    }
    if (specs.length === 0) return [];
    try {
      return (await this.pool.run('compliance.check', { specs })).contracts;
    } catch (err) {
      // One project's failure (a full pool queue, a job over budget) must not cost the others.
      this.opts.log.warn({ err, project }, 'compliance check of a project failed');
      return [];
    }
  }

  private async pass(): Promise<Run[]> {
    if (this.stopped) return [];
    const active = (await this.instances.list({})).filter((i) => i.status === 'active' && i.workspace !== '');
    const byProject = new Map<string, Array<{ name: string; violations: ContractViolation[] }>>();
    const rows: Array<{ instance_id: string; project: string; contract: string; pass: boolean; violations: ContractViolation[] }> = [];
    for (const inst of active) {
      // The workspace string is the project, verbatim.
      const project = inst.workspace;
      let contracts = byProject.get(project);
      if (contracts === undefined) {
        contracts = await this.checkProject(project);
        byProject.set(project, contracts);
      }
      for (const c of contracts) rows.push({ instance_id: inst.id, project, contract: c.name, pass: c.violations.length === 0, violations: c.violations });
    }
    this.stats.passes++;
    if (rows.length === 0 || this.stopped) return [];
    const rec = await this.writer.call('compliance.record', {
      runs: rows.map((r) => ({ ...r, violations: JSON.stringify(r.violations) })),
      keep: this.opts.keep,
    });
    this.stats.runs_recorded += rec.runs.length;
    this.stats.runs_pruned += rec.pruned;
    const runs: Run[] = rec.runs.map(COMPLIANCE_RUN.wire);
    for (const r of runs) {
      if (r.pass) continue;
      const data = JSON.stringify({ instance_id: r.instance_id, project: r.project, contract: r.contract, violations: r.violations });
      // The run is recorded: one failed publish must not cost the others theirs.
      await this.publish('compliance.violation', data, 'compliance-scheduler').catch((err: unknown) => this.opts.log.warn({ err, run: r.id }, 'compliance.violation publish failed'));
    }
    if (runs.some((r) => !r.pass)) this.opts.log.info({ runs: runs.length, failing: runs.filter((r) => !r.pass).length }, 'compliance pass found violations');
    return runs;
  }
}
