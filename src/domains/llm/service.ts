import type { AuditTag } from '../../../schemas/rpc/envelope.js';
import { badRequest } from '../../errors.js';
import type { WriterClient } from '../../rpc/writer-client.js';
import { toRfc3339, type ReadDb } from '../../store.js';

export interface LlmInput {
  instance_id: string;
  project: string;
  provider: string;
  model: string;
  tokens_in: number;
  tokens_out: number;
  cost_usd: number;
  request_type: string;
  session_tag: string;
}

export type LlmRecord = LlmInput & { id: number; created_at: string };

interface Sum {
  total_tokens_in: number;
  total_tokens_out: number;
  total_cost_usd: number;
  request_count: number;
}

/** SPEC §2.15 group_by values → columns. */
const GROUP_COLUMN = { instance: 'instance_id', project: 'project', model: 'model', session_tag: 'session_tag' } as const;
export type GroupBy = keyof typeof GROUP_COLUMN;
export const isGroupBy = (s: string): s is GroupBy => Object.hasOwn(GROUP_COLUMN, s);

const COLUMNS = 'id, instance_id, project, provider, model, tokens_in, tokens_out, cost_usd, request_type, session_tag, created_at';
const SPAN = '(@from IS NULL OR created_at >= @from) AND (@to IS NULL OR created_at <= @to)';
const SUMS = 'coalesce(sum(tokens_in), 0) AS total_tokens_in, coalesce(sum(tokens_out), 0) AS total_tokens_out, coalesce(sum(cost_usd), 0) AS total_cost_usd, count(*) AS request_count';

export interface ListFilter {
  /** Only the first present of instance > project > session_tag applies (SPEC §2.15). */
  by: { column: 'instance_id' | 'project' | 'session_tag'; value: string } | null;
  from: string | null;
  to: string | null;
  limit: number;
}

/** LLM usage and cost (SPEC §2.15): records through the writer, list and summaries from the read connection. */
export class LlmService {
  private readonly q;

  constructor(
    db: ReadDb,
    private readonly writer: WriterClient,
    /** Publishes `llm.usage.recorded` (wired in server.ts: a domain never imports another). */
    private readonly publish: (topic: string, data: string, source: string) => Promise<unknown>,
  ) {
    const list = (where: string) =>
      db.prepare<[{ v: string | null; from: string | null; to: string | null; limit: number }], LlmRecord>(
        `SELECT ${COLUMNS} FROM llm_usage WHERE ${where} AND ${SPAN} ORDER BY created_at DESC, id DESC LIMIT @limit`,
      );
    const groups = Object.fromEntries(
      Object.values(GROUP_COLUMN).map((col) => [
        col,
        db.prepare<[{ from: string | null; to: string | null }], Sum & { g: string }>(`SELECT ${col} AS g, ${SUMS} FROM llm_usage WHERE ${SPAN} GROUP BY ${col} ORDER BY ${col}`),
      ]),
    );
    this.q = {
      all: list('1 = 1'),
      instance_id: list('instance_id = @v'),
      project: list('project = @v'),
      session_tag: list('session_tag = @v'),
      groups,
      total: db.prepare<[{ from: string | null; to: string | null }], Sum>(`SELECT ${SUMS} FROM llm_usage WHERE ${SPAN}`),
    };
  }

  /** Stores the record, then publishes `llm.usage.recorded` with it (after commit). */
  async record(input: LlmInput, audit: AuditTag): Promise<{ id: number; recorded: true }> {
    if (input.tokens_in < 0 || input.tokens_out < 0) throw badRequest('tokens must not be negative');
    const r = await this.writer.call('llm.record', input, { audit });
    const rec: LlmRecord = { id: r.id, ...input, created_at: toRfc3339(r.created_at) };
    // The record is committed: a failed publish must not turn it into an error for the caller.
    await this.publish('llm.usage.recorded', JSON.stringify(rec), input.instance_id).catch(() => undefined);
    return { id: r.id, recorded: true };
  }

  list(f: ListFilter): LlmRecord[] {
    const p = { v: f.by?.value ?? null, from: f.from, to: f.to, limit: f.limit };
    const stmt = f.by === null ? this.q.all : this.q[f.by.column];
    return stmt.all(p).map((r) => ({ ...r, created_at: toRfc3339(r.created_at) }));
  }

  summary(groupBy: GroupBy, span: { from: string | null; to: string | null }): { groups: Record<string, Sum>; total: Sum } {
    const groups: Record<string, Sum> = {};
    for (const { g, ...sum } of this.q.groups[GROUP_COLUMN[groupBy]]!.all(span)) groups[g] = sum;
    return { groups, total: this.q.total.get(span)! };
  }
}
