import type { TransactionSql } from 'postgres';
import type { ReqOf, ResOf } from '../../../schemas/rpc/envelope.js';
import type { WriterMethods } from '../../../schemas/rpc/writer.js';
import { storageNow } from '../../writer/db.js';
import { Fault } from '../../writer/fault.js';

type M = WriterMethods;
type Tx = TransactionSql;

/** The template registry on PostgreSQL (workers/writer/stores/templates.ts). */
export function pgTemplateStore() {
  return {
    async create(tx: Tx, req: ReqOf<M, 'templates.create'>): Promise<ResOf<M, 'templates.create'>> {
      const now = storageNow();
      const r = await tx`INSERT INTO templates (id, name, description, kind, data, tags, version, created_at, updated_at)
                         VALUES (${req.id}, ${req.name}, ${req.description}, ${req.kind}, ${req.data}, ${JSON.stringify(req.tags)}, 1, ${now}, ${now})
                         ON CONFLICT (id) DO NOTHING`;
      if (r.count === 0) throw new Fault('ALREADY_EXISTS', 'failed to create template');
      return { id: req.id, version: 1, created_at: now, updated_at: now };
    },

    async delete(tx: Tx, req: ReqOf<M, 'templates.delete'>): Promise<ResOf<M, 'templates.delete'>> {
      if ((await tx`DELETE FROM templates WHERE id = ${req.id}`).count === 0) throw new Fault('NOT_FOUND', `template not found: ${req.id}`);
      return { id: req.id };
    },
  };
}
