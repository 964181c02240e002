import type { ReqOf, ResOf } from '../../../schemas/rpc/envelope.js';
import type { WriterMethods } from '../../../schemas/rpc/writer.js';
import { fault } from '../fault.js';
import { sql, type Tx } from '../sql.js';
import { storageNow } from '../../../schemas/db/time.js';

type M = WriterMethods;

// DO NOTHING + changes: a duplicate id is a named fault, not a constraint error in the log.
const INSERT = sql(
  `INSERT INTO templates (id, name, description, kind, data, tags, version, created_at, updated_at)
   VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?) ON CONFLICT(id) DO NOTHING`,
);
const DELETE = sql('DELETE FROM templates WHERE id = ?');

/** The template registry's writes. */
export function templateStore() {
  return {
    async create(tx: Tx, req: ReqOf<M, 'templates.create'>): Promise<ResOf<M, 'templates.create'>> {
      const now = storageNow();
      if ((await tx.run(INSERT, req.id, req.name, req.description, req.kind, req.data, JSON.stringify(req.tags), now, now)) === 0) {
        throw fault('TEMPLATE_EXISTS');
      }
      return { id: req.id, version: 1, created_at: now, updated_at: now };
    },

    async delete(tx: Tx, req: ReqOf<M, 'templates.delete'>): Promise<ResOf<M, 'templates.delete'>> {
      if ((await tx.run(DELETE, req.id)) === 0) throw fault('TEMPLATE_NOT_FOUND', req.id);
      return { id: req.id };
    },
  };
}
