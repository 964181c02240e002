import type { ReqOf, ResOf } from '../../../schemas/rpc/envelope.js';
import type { WriterMethods } from '../../../schemas/rpc/writer.js';
import { fault, checkPreconditions } from '../fault.js';
import { sql, type Tx } from '../sql.js';
import { storageNow } from '../../../schemas/db/time.js';
import { sha256 } from './state.js';
import { logChange } from './changes.js';

type M = WriterMethods;

const META = sql('SELECT version, hash FROM specs WHERE project = ? AND name = ?');
const UPSERT = sql(
  `INSERT INTO specs (project, name, data, version, hash, updated_at, revision) VALUES (?, ?, ?, ?, ?, ?, ?)
   ON CONFLICT(project, name) DO UPDATE SET data = excluded.data, version = excluded.version,
     hash = excluded.hash, updated_at = excluded.updated_at, revision = excluded.revision`,
);
/** A spec's topic in the change log: a watch of a project is the prefix `p:<project>/`. */
const specTopic = (project: string, name: string): string => `p:${project}/${name}`;
const DELETE = sql('DELETE FROM specs WHERE project = ? AND name = ?');

/** The spec registry's writes. */
export function specStore() {
  return {
    async put(tx: Tx, req: ReqOf<M, 'specs.put'>): Promise<ResOf<M, 'specs.put'>> {
      const cur = await tx.get<{ version: number; hash: string }>(META, req.project, req.name);
      checkPreconditions(cur, req.if_match, req.if_none_match);
      const version = cur ? cur.version + 1 : 1;
      const hash = sha256(req.data);
      const updated_at = storageNow();
      const revision = await logChange(tx, specTopic(req.project, req.name), 'put', version, hash, 'application/json', '');
      await tx.run(UPSERT, req.project, req.name, req.data, version, hash, updated_at, revision);
      return { project: req.project, name: req.name, version, hash, updated_at, revision };
    },

    async delete(tx: Tx, req: ReqOf<M, 'specs.delete'>): Promise<ResOf<M, 'specs.delete'>> {
      const cur = await tx.get<{ version: number; hash: string }>(META, req.project, req.name);
      if (!cur) throw fault('SPEC_NOT_FOUND', req.project, req.name);
      checkPreconditions(cur, req.if_match, undefined);
      await tx.run(DELETE, req.project, req.name);
      const revision = await logChange(tx, specTopic(req.project, req.name), 'delete', cur.version, '', '', '');
      return { project: req.project, name: req.name, revision };
    },
  };
}
