import type { ReqOf, ResOf } from '../../../schemas/rpc/envelope.js';
import type { WriterMethods } from '../../../schemas/rpc/writer.js';
import { storageNow, type DB } from '../db.js';
import { Fault, checkPreconditions } from '../fault.js';
import { sha256 } from './state.js';

type M = WriterMethods;

/** Prepared statements and writes of the spec registry (SPEC §2.3, §8.1). */
export function specStore(db: DB) {
  const meta = db.prepare<[string, string], { version: number; hash: string }>(
    'SELECT version, hash FROM specs WHERE project = ? AND name = ?',
  );
  const upsert = db.prepare(
    `INSERT INTO specs (project, name, data, version, hash, updated_at)
     VALUES (@project, @name, @data, @version, @hash, @updated_at)
     ON CONFLICT(project, name) DO UPDATE SET data = excluded.data, version = excluded.version,
       hash = excluded.hash, updated_at = excluded.updated_at`,
  );
  const del = db.prepare('DELETE FROM specs WHERE project = ? AND name = ?');

  return {
    put(req: ReqOf<M, 'spec.put'>): ResOf<M, 'spec.put'> {
      const cur = meta.get(req.project, req.name);
      checkPreconditions(cur, req.if_match, req.if_none_match);
      const row = {
        project: req.project,
        name: req.name,
        data: req.data,
        version: cur ? cur.version + 1 : 1,
        hash: sha256(req.data),
        updated_at: storageNow(),
      };
      upsert.run(row);
      return { project: row.project, name: row.name, version: row.version, hash: row.hash, updated_at: row.updated_at };
    },

    delete(req: ReqOf<M, 'spec.delete'>): ResOf<M, 'spec.delete'> {
      const cur = meta.get(req.project, req.name);
      if (!cur) throw new Fault('NOT_FOUND', `spec not found: ${req.project}/${req.name}`);
      checkPreconditions(cur, req.if_match, undefined);
      del.run(req.project, req.name);
      return { project: req.project, name: req.name };
    },
  };
}
