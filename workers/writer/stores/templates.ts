import type { ReqOf, ResOf } from '../../../schemas/rpc/envelope.js';
import type { WriterMethods } from '../../../schemas/rpc/writer.js';
import { storageNow, type DB } from '../db.js';
import { Fault } from '../fault.js';

type M = WriterMethods;

/** Prepared statements and writes of the template registry (SPEC §2.12, §7-11, §7-18). */
export function templateStore(db: DB) {
  // DO NOTHING + changes: a duplicate id is a named fault, not a constraint error in the log.
  const insert = db.prepare(
    `INSERT INTO templates (id, name, description, kind, data, tags, version, created_at, updated_at)
     VALUES (@id, @name, @description, @kind, @data, @tags, 1, @now, @now)
     ON CONFLICT(id) DO NOTHING`,
  );
  const del = db.prepare('DELETE FROM templates WHERE id = ?');

  return {
    create(req: ReqOf<M, 'templates.create'>): ResOf<M, 'templates.create'> {
      const now = storageNow();
      const r = insert.run({ ...req, tags: JSON.stringify(req.tags), now });
      if (r.changes === 0) throw new Fault('ALREADY_EXISTS', 'failed to create template');
      return { id: req.id, version: 1, created_at: now, updated_at: now };
    },

    delete(req: ReqOf<M, 'templates.delete'>): ResOf<M, 'templates.delete'> {
      if (del.run(req.id).changes === 0) throw new Fault('NOT_FOUND', `template not found: ${req.id}`);
      return { id: req.id };
    },
  };
}
