import type { AuditTag } from '../../../schemas/rpc/envelope.js';
import { notFound } from '../../errors.js';
import type { WriterClient } from '../../rpc/writer-client.js';
import { toRfc3339, type ReadDb } from '../../store.js';

export interface SpecRow {
  data: Buffer;
  version: number;
  hash: string;
}

/** Spec registry (SPEC §2.3): per-project blobs, no history, CAS on writes. */
export class SpecService {
  private readonly q;

  constructor(
    db: ReadDb,
    private readonly writer: WriterClient,
  ) {
    this.q = {
      list: db.prepare<[string], { name: string; version: number; updated_at: string }>(
        'SELECT name, version, updated_at FROM specs WHERE project = ? ORDER BY name',
      ),
      get: db.prepare<[string, string], SpecRow>('SELECT data, version, hash FROM specs WHERE project = ? AND name = ?'),
    };
  }

  list(project: string) {
    return { project, specs: this.q.list.all(project).map((r) => ({ ...r, updated_at: toRfc3339(r.updated_at) })) };
  }

  get(project: string, name: string): SpecRow {
    const row = this.q.get.get(project, name);
    if (!row) throw notFound(`spec not found: ${project}/${name}`);
    return row;
  }

  async put(project: string, name: string, data: Uint8Array, pre: { ifMatch?: string; ifNoneMatch?: string } = {}, audit?: AuditTag) {
    const r = await this.writer.call('spec.put', {
      project,
      name,
      data,
      ...(pre.ifMatch ? { if_match: pre.ifMatch } : {}),
      ...(pre.ifNoneMatch ? { if_none_match: pre.ifNoneMatch } : {}),
    }, { audit });
    return { ...r, updated_at: toRfc3339(r.updated_at) };
  }

  async delete(project: string, name: string, ifMatch?: string, audit?: AuditTag) {
    await this.writer.call('spec.delete', { project, name, ...(ifMatch ? { if_match: ifMatch } : {}) }, { audit });
    return { deleted: `${project}/${name}` };
  }
}
