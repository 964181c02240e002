import type { Config } from '../../config.js';
import type { Logger } from '../../log.js';
import { RETENTION_KEYS_PER_TURN, RETENTION_MAX_TURNS_PER_PASS, RETENTION_ROWS_PER_TURN, VACUUM_KEEP_FREE_PAGES, VACUUM_PAGES_PER_TURN, VACUUM_START_FREE_PAGES } from '../../shared/limits.js';
import { OPS_PRUNE_CHUNK, IDEMPOTENCY_KEEP_MS } from '../../shared/limits-features.js';
import type { WriterClient } from '../../rpc/writer-client.js';
import type { ReqOf } from '../../../schemas/rpc/envelope.js';
import type { WriterMethods } from '../../../schemas/rpc/writer.js';
import { Periodic } from '../../shared/periodic.js';
import { toStorage } from '../../../schemas/db/time.js';
import { HOOK_SESSION_ENDED_KEEP_MS } from '../../../schemas/db/tables/hooks.js';

/** The settings retention reads (their meaning and defaults: src/config.ts), and what it is given to do its work. */
type RetentionOptions = Pick<
  Config,
  | 'pruneIntervalMs'
  | 'stateHistoryKeep'
  | 'auditRetentionMs'
  | 'agentMetricsRetentionMs'
  | 'llmRetentionMs'
  | 'auditKeep'
  | 'agentMetricsKeep'
  | 'llmKeep'
  | 'messageRetentionMs'
  | 'messageKeep'
  | 'idempotencyKeep'
  | 'taskRetentionMs'
  | 'expiredTokenRetentionMs'
> & {
  /** The event log's own pruning (its retention setting); resolves to the rows deleted. */
  pruneEvents: () => Promise<number>;
  /** Bytes the data takes now (the backend's figure: data.db with its WAL, or the PostgreSQL database). */
  size: () => number | Promise<number>;
  log: Logger;
};

/** What retention has done since start (pruned rows per table in the metrics). */
export interface RetentionStats {
  passes: number;
  events_pruned: number;
  state_history_pruned: number;
  audit_pruned: number;
  agent_metrics_pruned: number;
  llm_usage_pruned: number;
  messages_pruned: number;
  tasks_pruned: number;
  idempotency_keys_pruned: number;
  tokens_pruned: number;
  hook_sessions_ended_pruned: number;
  /** Runs of departed agents (a registered agent's are kept per contract by the compliance pass). */
  compliance_runs_pruned: number;
  vacuumed_pages: number;
  free_pages: number;
  last_pass_ms: number;
}

/**
 * Bounded disk: every interval, one pass over every table that grows with traffic,
 * in small writer turns so no write waits long behind it: events beyond their retention, state
 * history beyond the newest N versions per key (writes keep the steady state themselves; the pass
 * clears backlogs), then free pages go back to the file system (incremental vacuum). A table
 * added later adds its step here.
 */
export class Retention {
  readonly stats: RetentionStats = { passes: 0, events_pruned: 0, state_history_pruned: 0, audit_pruned: 0, agent_metrics_pruned: 0, llm_usage_pruned: 0, messages_pruned: 0, tasks_pruned: 0, idempotency_keys_pruned: 0, tokens_pruned: 0, hook_sessions_ended_pruned: 0, compliance_runs_pruned: 0, vacuumed_pages: 0, free_pages: 0, last_pass_ms: 0 };
  private readonly timer: Periodic;
  /** State-history sweep position: keys after it are next. */
  private cursor = '';

  constructor(
    private readonly writer: WriterClient,
    private readonly opts: RetentionOptions,
  ) {
    this.timer = new Periodic(() => this.pass(), { everyMs: opts.pruneIntervalMs, name: 'retention pass', log: opts.log });
  }

  start(): void {
    this.timer.start();
  }

  /** Resolves once the pass in flight (if any) is over. */
  stop(): Promise<void> {
    return this.timer.stop();
  }

  /** One pass now (also what the timer runs); concurrent calls share the pass in progress. */
  runPass(): Promise<void> {
    return this.timer.run();
  }

  /** Bytes the data takes right now. */
  fileBytes(): number | Promise<number> {
    return this.opts.size();
  }

  private async pass(): Promise<void> {
    const t0 = Date.now();
    try {
      this.stats.events_pruned += await this.opts.pruneEvents();
      if (this.opts.stateHistoryKeep > 0) await this.pruneHistory();
      await this.pruneOps();
      await this.vacuum();
      this.stats.passes++;
    } catch (err) {
      this.opts.log.warn({ err }, 'retention pass failed; retrying next interval');
    } finally {
      this.stats.last_pass_ms = Date.now() - t0;
    }
  }

  private async pruneHistory(): Promise<void> {
    let deleted = 0;
    for (let turn = 0; turn < RETENTION_MAX_TURNS_PER_PASS; turn++) {
      const r = await this.writer.call('state.prune_history', { keep: this.opts.stateHistoryKeep, after: this.cursor, keys: RETENTION_KEYS_PER_TURN, rows: RETENTION_ROWS_PER_TURN });
      deleted += r.deleted + r.dropped_by_writes;
      this.cursor = r.next;
      if (r.wrapped) break;
    }
    this.stats.state_history_pruned += deleted;
    if (deleted > 0) this.opts.log.debug({ deleted }, 'pruned state history');
  }

  /**
   * Audit entries, agent-metric hours, LLM records, inbox messages, tasks, idempotency keys,
   * expired tokens, departed agents' compliance runs and ended sessions older than their retention, oldest first, in bounded turns.
   */
  private async pruneOps(): Promise<void> {
    const now = Date.now();
    const ops = (table: ReqOf<WriterMethods, 'ops.prune'>['table']) => (before: string) => this.writer.call('ops.prune', { table, before, chunk: OPS_PRUNE_CHUNK });
    const steps = [
      { ms: this.opts.auditRetentionMs, stat: 'audit_pruned', before: toStorage, turn: ops('audit_log') },
      // Buckets are hours: one whose hour began before the cutoff hour goes.
      { ms: this.opts.agentMetricsRetentionMs, stat: 'agent_metrics_pruned', before: (t: number) => new Date(t).toISOString().slice(0, 13), turn: ops('agent_metrics') },
      { ms: this.opts.llmRetentionMs, stat: 'llm_usage_pruned', before: toStorage, turn: ops('llm_usage') },
      { ms: this.opts.messageRetentionMs, stat: 'messages_pruned', before: toStorage, turn: (before: string) => this.writer.call('messages.prune', { before, chunk: OPS_PRUNE_CHUNK }) },
      { ms: this.opts.taskRetentionMs, stat: 'tasks_pruned', before: toStorage, turn: (before: string) => this.writer.call('tasks.prune', { before, chunk: OPS_PRUNE_CHUNK }) },
      { ms: IDEMPOTENCY_KEEP_MS, stat: 'idempotency_keys_pruned', before: toStorage, turn: ops('idempotency_keys') },
      // Created tokens a week past their expiry (refused since it; listed as expired until then).
      { ms: this.opts.expiredTokenRetentionMs, stat: 'tokens_pruned', before: toStorage, turn: ops('api_tokens') },
      // A departed agent's compliance runs, as long as the audit log keeps what it did.
      { ms: this.opts.auditRetentionMs, stat: 'compliance_runs_pruned', before: toStorage, turn: ops('compliance_runs') },
      // Sessions that ended, kept only for their late telemetry (seconds late at most).
      { ms: HOOK_SESSION_ENDED_KEEP_MS, stat: 'hook_sessions_ended_pruned', before: toStorage, turn: ops('hook_sessions_ended') },
    ] as const;
    // By count as well as by age: a burst of traffic cannot outgrow the disk within the age limit.
    const counted = [
      { keep: this.opts.auditKeep, stat: 'audit_pruned', table: 'audit_log' },
      { keep: this.opts.agentMetricsKeep, stat: 'agent_metrics_pruned', table: 'agent_metrics' },
      { keep: this.opts.llmKeep, stat: 'llm_usage_pruned', table: 'llm_usage' },
      // An agent stuck in a loop of sends must not fill the disk within the 30 days messages keep.
      { keep: this.opts.messageKeep, stat: 'messages_pruned', table: 'messages' },
      // A client looping on creates, each under a new key, must not fill the disk within 24 h.
      { keep: this.opts.idempotencyKeep, stat: 'idempotency_keys_pruned', table: 'idempotency_keys' },
    ] as const;
    for (const c of counted) {
      if (c.keep === 0) continue;
      for (let turn = 0; turn < RETENTION_MAX_TURNS_PER_PASS; turn++) {
        const r = await this.writer.call('ops.trim', { table: c.table, keep: c.keep, chunk: OPS_PRUNE_CHUNK });
        this.stats[c.stat] += r.deleted;
        if (!r.more) break;
      }
    }
    for (const s of steps) {
      if (s.ms === 0) continue;
      const before = s.before(now - s.ms);
      for (let turn = 0; turn < RETENTION_MAX_TURNS_PER_PASS; turn++) {
        const r = await s.turn(before);
        this.stats[s.stat] += r.deleted;
        if (!r.more) break;
      }
    }
  }

  private async vacuum(): Promise<void> {
    let r = await this.writer.call('db.vacuum', { pages: 0 });
    this.stats.vacuumed_pages += r.freed;
    if (r.free_pages < VACUUM_START_FREE_PAGES) {
      this.stats.free_pages = r.free_pages;
      return;
    }
    while (r.free_pages > VACUUM_KEEP_FREE_PAGES) {
      r = await this.writer.call('db.vacuum', { pages: Math.min(VACUUM_PAGES_PER_TURN, r.free_pages - VACUUM_KEEP_FREE_PAGES) });
      this.stats.vacuumed_pages += r.freed;
      if (r.freed === 0) break;
    }
    this.stats.free_pages = r.free_pages;
  }
}
