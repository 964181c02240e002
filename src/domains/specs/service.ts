import type { AuditTag } from '../../../schemas/rpc/envelope.js';
import { fail } from '../../errors.js';
import type { WriterClient } from '../../rpc/writer-client.js';
import { toRfc3339 } from '../../../schemas/db/time.js';
import { SPEC_DOC } from '../../../schemas/db/tables/specs.js';
import type { Awaitable } from '../../shared/awaitable.js';
import type { SpecRow, SpecsReader } from './reader.js';

/** Spec registry: per-project blobs, no history, CAS on writes. */
export class SpecService {
  constructor(
    private readonly reader: SpecsReader,
    private readonly writer: WriterClient,
    /** The newest state or spec revision (the store-wide counter specs share with state keys). */
    readonly newestRevision: () => Awaitable<number>,
  ) {}

  async list(project: string) {
    return { project, specs: (await this.reader.list(project)).map((r) => ({ name: r.name, version: r.version, updated_at: toRfc3339(r.updated_at) })) };
  }

  async get(project: string, name: string): Promise<SpecRow> {
    const row = await this.reader.get(project, name);
    if (!row) throw fail('SPEC_NOT_FOUND', project, name);
    return row;
  }

  async put(project: string, name: string, data: Uint8Array, pre: { ifMatch?: string; ifNoneMatch?: string } = {}, audit?: AuditTag) {
    const r = await this.writer.call('specs.put', {
      project,
      name,
      data,
      ...(pre.ifMatch ? { if_match: pre.ifMatch } : {}),
      ...(pre.ifNoneMatch ? { if_none_match: pre.ifNoneMatch } : {}),
    }, { audit });
    this.onChange?.();
    return SPEC_DOC.wire(r);
  }

  /** Told after each write this node committed (the watch feed looks at once). */
  onChange: (() => void) | null = null;

  async delete(project: string, name: string, ifMatch?: string, audit?: AuditTag) {
    const r = await this.writer.call('specs.delete', { project, name, ...(ifMatch ? { if_match: ifMatch } : {}) }, { audit });
    this.onChange?.();
    return { deleted: `${project}/${name}`, revision: r.revision };
  }
}
