import type { TransactionSql } from 'postgres';
import type { ReqOf, ResOf } from '../../../schemas/rpc/envelope.js';
import type { WriterMethods } from '../../../schemas/rpc/writer.js';
import { storageNow } from '../../writer/db.js';

type M = WriterMethods;
type Tx = TransactionSql;

/** Compliance runs on PostgreSQL (workers/writer/stores/compliance.ts). */
export function pgComplianceStore() {
  return {
    async record(tx: Tx, req: ReqOf<M, 'compliance.record'>): Promise<ResOf<M, 'compliance.record'>> {
      const run_at = storageNow();
      const runs = [];
      for (const r of req.runs) {
        const [row] = await tx<{ id: number }[]>`INSERT INTO compliance_runs (instance_id, project, contract, pass, violations, run_at)
                                                 VALUES (${r.instance_id}, ${r.project}, ${r.contract}, ${r.pass ? 1 : 0}, ${r.violations}, ${run_at}) RETURNING id`;
        runs.push({ id: row!.id, ...r, run_at });
      }
      let pruned = 0;
      if (req.keep > 0) {
        const pairs = new Map<string, [string, string]>();
        for (const r of req.runs) pairs.set(`${r.instance_id}\n${r.contract}`, [r.instance_id, r.contract]);
        for (const [instance, contract] of pairs.values()) {
          const [last] = await tx<{ id: number }[]>`SELECT id FROM compliance_runs WHERE instance_id = ${instance} AND contract = ${contract} ORDER BY id DESC LIMIT 1 OFFSET ${req.keep}`;
          if (last) pruned += (await tx`DELETE FROM compliance_runs WHERE instance_id = ${instance} AND contract = ${contract} AND id <= ${last.id}`).count;
        }
      }
      return { runs, pruned };
    },
  };
}
