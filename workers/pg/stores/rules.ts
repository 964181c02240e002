import type { TransactionSql } from 'postgres';
import type { ReqOf, ResOf } from '../../../schemas/rpc/envelope.js';
import type { RuleRow, WriterMethods } from '../../../schemas/rpc/writer.js';
import { storageNow } from '../../writer/db.js';
import { Fault } from '../../writer/fault.js';

type M = WriterMethods;
type Tx = TransactionSql;

/** Validation rules and their lifecycle on PostgreSQL (workers/writer/stores/rules.ts). */
export function pgRuleStore() {
  const insert = (tx: Tx, r: RuleRow, status: string, now: string) =>
    tx`INSERT INTO validation_rules (project, rule_id, severity, match_type, pattern, message, stack, applies_to, source, status, proposed_by, context, created_at)
       VALUES (${r.project}, ${r.rule_id}, ${r.severity}, ${r.match_type}, ${r.pattern}, ${r.message}, ${r.stack}, ${JSON.stringify(r.applies_to)},
               ${r.source}, ${status}, ${r.proposed_by}, ${r.context}, ${now})`;

  return {
    async propose(tx: Tx, req: ReqOf<M, 'rules.propose'>): Promise<ResOf<M, 'rules.propose'>> {
      // SPEC §7-18: a duplicate proposal is a conflict (409), never an overwrite.
      if ((await tx`SELECT 1 FROM validation_rules WHERE project = ${req.project} AND rule_id = ${req.rule_id}`).length > 0) {
        throw new Fault('ALREADY_EXISTS', 'failed to propose rule');
      }
      await insert(tx, { ...req, source: 'learned' }, 'proposed', storageNow());
      return { project: req.project, rule_id: req.rule_id, status: 'proposed' };
    },

    async replace(tx: Tx, req: ReqOf<M, 'rules.replace'>): Promise<ResOf<M, 'rules.replace'>> {
      const ids = new Set(req.rules.map((r) => r.rule_id));
      // The original fails the whole PUT on a repeated rule_id (its primary key), nothing changed.
      if (ids.size !== req.rules.length) throw new Fault('INTERNAL', 'failed to save rules');
      await tx`DELETE FROM validation_rules WHERE project = ${req.project}`;
      const now = storageNow();
      for (const r of req.rules) await insert(tx, { ...r, project: req.project, proposed_by: '', context: '' }, 'accepted', now);
      return { count: req.rules.length };
    },

    async decide(tx: Tx, req: ReqOf<M, 'rules.decide'>): Promise<ResOf<M, 'rules.decide'>> {
      const r = await tx`UPDATE validation_rules SET status = ${req.status} WHERE project = ${req.project} AND rule_id = ${req.rule_id} AND status = 'proposed'`;
      if (r.count === 0) throw new Fault('NOT_FOUND', `proposed rule not found: ${req.project}/${req.rule_id}`);
      return { project: req.project, rule_id: req.rule_id, status: req.status };
    },

    async delete(tx: Tx, req: ReqOf<M, 'rules.delete'>): Promise<ResOf<M, 'rules.delete'>> {
      if ((await tx`DELETE FROM validation_rules WHERE project = ${req.project} AND rule_id = ${req.rule_id}`).count === 0) {
        throw new Fault('NOT_FOUND', `rule not found: ${req.project}/${req.rule_id}`);
      }
      return { project: req.project, rule_id: req.rule_id };
    },

    async import(tx: Tx, req: ReqOf<M, 'rules.import'>): Promise<ResOf<M, 'rules.import'>> {
      const now = storageNow();
      for (const r of req.rules) {
        await tx`INSERT INTO validation_rules (project, rule_id, severity, match_type, pattern, message, stack, applies_to, source, status, proposed_by, context, created_at)
                 VALUES (${r.project}, ${r.rule_id}, ${r.severity}, ${r.match_type}, ${r.pattern}, ${r.message}, ${r.stack}, ${JSON.stringify(r.applies_to)},
                         ${r.source}, 'accepted', ${r.proposed_by}, ${r.context}, ${now})
                 ON CONFLICT (project, rule_id) DO UPDATE SET severity = excluded.severity, match_type = excluded.match_type,
                   pattern = excluded.pattern, message = excluded.message, stack = excluded.stack, applies_to = excluded.applies_to,
                   source = excluded.source, status = 'accepted'`;
      }
      return { imported: req.rules.length };
    },
  };
}
