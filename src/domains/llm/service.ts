import type { AuditTag } from '../../../schemas/rpc/envelope.js';
import { fail } from '../../errors.js';
import type { WriterClient } from '../../rpc/writer-client.js';
import { toRfc3339 } from '../../store.js';
import type { ListFilter, LlmInput, LlmReader, LlmRecord, Sum } from './reader.js';

export type { ListFilter, LlmInput, LlmRecord } from './reader.js';

/** SPEC §2.15 group_by values → columns. */
const GROUP_COLUMN = { instance: 'instance_id', project: 'project', model: 'model', session_tag: 'session_tag' } as const;
export type GroupBy = keyof typeof GROUP_COLUMN;
export const isGroupBy = (s: string): s is GroupBy => Object.hasOwn(GROUP_COLUMN, s);

/** LLM usage and cost (SPEC §2.15): records through the writer, list and summaries from its reader. */
export class LlmService {
  constructor(
    private readonly reader: LlmReader,
    private readonly writer: WriterClient,
    /** Publishes `llm.usage.recorded` (wired in server.ts: a domain never imports another). */
    private readonly publish: (topic: string, data: string, source: string) => Promise<unknown>,
  ) {}

  /** Stores the record, then publishes `llm.usage.recorded` with it (after commit). */
  async record(input: LlmInput, audit: AuditTag): Promise<{ id: number; recorded: true }> {
    if (input.tokens_in < 0 || input.tokens_out < 0) throw fail('TOKENS_NEGATIVE');
    const r = await this.writer.call('llm.record', input, { audit });
    const rec: LlmRecord = { id: r.id, ...input, created_at: toRfc3339(r.created_at) };
    // The record is committed: a failed publish must not turn it into an error for the caller.
    await this.publish('llm.usage.recorded', JSON.stringify(rec), input.instance_id).catch(() => undefined);
    return { id: r.id, recorded: true };
  }

  async list(f: ListFilter): Promise<LlmRecord[]> {
    return (await this.reader.list(f)).map((r) => ({ ...r, created_at: toRfc3339(r.created_at) }));
  }

  async summary(groupBy: GroupBy, span: { from: string | null; to: string | null }): Promise<{ groups: Record<string, Sum>; total: Sum }> {
    const r = await this.reader.summary(GROUP_COLUMN[groupBy], span);
    const groups: Record<string, Sum> = {};
    for (const { g, ...sum } of r.groups) groups[g] = sum;
    return { groups, total: r.total };
  }
}
