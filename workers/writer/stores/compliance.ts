import type { ReqOf, ResOf } from '../../../schemas/rpc/envelope.js';
import type { WriterMethods } from '../../../schemas/rpc/writer.js';
import { storageNow, type DB } from '../db.js';

type M = WriterMethods;

/** Compliance runs (SPEC §2.10, §8.10): a pass's rows in one call, retention per (instance, contract). */
export function complianceStore(db: DB) {
  const insert = db.prepare<[string, string, string, number, string, string]>(
    'INSERT INTO compliance_runs (instance_id, project, contract, pass, violations, run_at) VALUES (?, ?, ?, ?, ?, ?)',
  );
  // The (keep+1)-th newest id of a pair: it and everything older go. Both use the
  // (instance_id, contract, id) index.
  const cutoff = db
    .prepare<[string, string, number], number>('SELECT id FROM compliance_runs WHERE instance_id = ? AND contract = ? ORDER BY id DESC LIMIT 1 OFFSET ?')
    .pluck();
  const prune = db.prepare<[string, string, number]>('DELETE FROM compliance_runs WHERE instance_id = ? AND contract = ? AND id <= ?');

  return {
    record(req: ReqOf<M, 'compliance.record'>): ResOf<M, 'compliance.record'> {
      const run_at = storageNow();
      const runs = req.runs.map((r) => {
        const id = Number(insert.run(r.instance_id, r.project, r.contract, r.pass ? 1 : 0, r.violations, run_at).lastInsertRowid);
        return { id, ...r, run_at };
      });
      let pruned = 0;
      if (req.keep > 0) {
        const pairs = new Map<string, [string, string]>();
        for (const r of req.runs) pairs.set(`${r.instance_id}\n${r.contract}`, [r.instance_id, r.contract]);
        for (const [instance, contract] of pairs.values()) {
          const last = cutoff.get(instance, contract, req.keep);
          if (last !== undefined) pruned += prune.run(instance, contract, last).changes;
        }
      }
      return { runs, pruned };
    },
  };
}
