import type { TransactionSql } from 'postgres';
import type { ReqOf, ResOf } from '../../../schemas/rpc/envelope.js';
import type { WriterMethods } from '../../../schemas/rpc/writer.js';
import { storageNow } from '../../writer/db.js';
import { Fault, checkPreconditions } from '../../writer/fault.js';
import { sha256 } from '../../writer/stores/state.js';
import { bytea } from '../tx.js';

type M = WriterMethods;
type Tx = TransactionSql;

/** The spec registry on PostgreSQL (workers/writer/stores/specs.ts). */
export function pgSpecStore() {
  const meta = async (tx: Tx, project: string, name: string) =>
    (await tx<{ version: number; hash: string }[]>`SELECT version, hash FROM specs WHERE project = ${project} AND name = ${name}`)[0];
  return {
    async put(tx: Tx, req: ReqOf<M, 'spec.put'>): Promise<ResOf<M, 'spec.put'>> {
      const cur = await meta(tx, req.project, req.name);
      checkPreconditions(cur, req.if_match, req.if_none_match);
      const version = cur ? cur.version + 1 : 1;
      const hash = sha256(req.data);
      const updated_at = storageNow();
      await tx`INSERT INTO specs (project, name, data, version, hash, updated_at)
               VALUES (${req.project}, ${req.name}, ${bytea(req.data)}, ${version}, ${hash}, ${updated_at})
               ON CONFLICT (project, name) DO UPDATE SET data = excluded.data, version = excluded.version,
                 hash = excluded.hash, updated_at = excluded.updated_at`;
      return { project: req.project, name: req.name, version, hash, updated_at };
    },

    async delete(tx: Tx, req: ReqOf<M, 'spec.delete'>): Promise<ResOf<M, 'spec.delete'>> {
      const cur = await meta(tx, req.project, req.name);
      if (!cur) throw new Fault('NOT_FOUND', `spec not found: ${req.project}/${req.name}`);
      checkPreconditions(cur, req.if_match, undefined);
      await tx`DELETE FROM specs WHERE project = ${req.project} AND name = ${req.name}`;
      return { project: req.project, name: req.name };
    },
  };
}
