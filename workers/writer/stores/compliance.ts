import type { ReqOf, ResOf } from '../../../schemas/rpc/envelope.js';
import type { WriterMethods } from '../../../schemas/rpc/writer.js';
import { inserting, sql, type Tx } from '../sql.js';
import { storageNow } from '../../../schemas/db/time.js';
import { COMPLIANCE_RUN } from '../../../schemas/db/tables/compliance.js';

type M = WriterMethods;

const INSERT = inserting(`INSERT INTO compliance_runs (${COMPLIANCE_RUN.inputs.join(', ')}, run_at) VALUES (${COMPLIANCE_RUN.inputs.map(() => '?').join(', ')}, ?)`);
// The (keep+1)-th newest id of a pair: it and everything older go. Both use the
// (instance_id, contract, id) index.
const CUTOFF = sql('SELECT id FROM compliance_runs WHERE instance_id = ? AND contract = ? ORDER BY id DESC LIMIT 1 OFFSET CAST(? AS bigint)');
const PRUNE = sql('DELETE FROM compliance_runs WHERE instance_id = ? AND contract = ? AND id <= ?');

/** Compliance runs: a pass's rows in one call, retention per (instance, contract). */
export function complianceStore() {
  return {
    async record(tx: Tx, req: ReqOf<M, 'compliance.record'>): Promise<ResOf<M, 'compliance.record'>> {
      const run_at = storageNow();
      const runs = [];
      for (const r of req.runs) {
        const id = await tx.insert(INSERT, ...COMPLIANCE_RUN.values(r), run_at);
        runs.push({ id, ...r, run_at });
      }
      let pruned = 0;
      if (req.keep > 0) {
        const pairs = new Map<string, [string, string]>();
        for (const r of req.runs) pairs.set(`${r.instance_id}\n${r.contract}`, [r.instance_id, r.contract]);
        for (const [instance, contract] of pairs.values()) {
          const last = await tx.get<{ id: number }>(CUTOFF, instance, contract, req.keep);
          if (last !== undefined) pruned += await tx.run(PRUNE, instance, contract, last.id);
        }
      }
      return { runs, pruned };
    },
  };
}
