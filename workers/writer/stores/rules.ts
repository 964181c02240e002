import type { ReqOf, ResOf } from '../../../schemas/rpc/envelope.js';
import type { RuleRow, WriterMethods } from '../../../schemas/rpc/writer.js';
import { fault } from '../fault.js';
import { sql, type Param, type Tx } from '../sql.js';
import { storageNow } from '../../../schemas/db/time.js';
import { RULE } from '../../../schemas/db/tables/rules.js';

type M = WriterMethods;

/** A rule's input fields (schemas/db/tables/rules.ts), then its status and creation time. */
const COLS = [...RULE.inputs, 'status', 'created_at'];
const VALUES = `(${COLS.join(', ')}) VALUES (${COLS.map(() => '?').join(', ')})`;
const EXISTS = sql('SELECT 1 AS found FROM validation_rules WHERE project = ? AND rule_id = ?');
const INSERT = sql(`INSERT INTO validation_rules ${VALUES}`);
const UPSERT = sql(
  `INSERT INTO validation_rules ${VALUES}
   ON CONFLICT(project, rule_id) DO UPDATE SET severity = excluded.severity, match_type = excluded.match_type,
     pattern = excluded.pattern, message = excluded.message, stack = excluded.stack, applies_to = excluded.applies_to,
     source = excluded.source, status = excluded.status`,
);
const DELETE_PROJECT = sql('DELETE FROM validation_rules WHERE project = ?');
const DELETE_ONE = sql('DELETE FROM validation_rules WHERE project = ? AND rule_id = ?');
const DECIDE = sql("UPDATE validation_rules SET status = ? WHERE project = ? AND rule_id = ? AND status = 'proposed'");

/** A rule's row in COLS order. */
const row = (r: RuleRow, status: string, now: string): Param[] => [...RULE.values(r), status, now];

/** Validation rules and their lifecycle. */
export function ruleStore() {
  return {
    async propose(tx: Tx, req: ReqOf<M, 'rules.propose'>): Promise<ResOf<M, 'rules.propose'>> {
      // A duplicate proposal is a conflict (409), never an overwrite.
      if (await tx.get(EXISTS, req.project, req.rule_id)) throw fault('RULE_EXISTS');
      await tx.run(INSERT, ...row({ ...req, source: 'learned' }, 'proposed', storageNow()));
      return { project: req.project, rule_id: req.rule_id, status: 'proposed' };
    },

    async replace(tx: Tx, req: ReqOf<M, 'rules.replace'>): Promise<ResOf<M, 'rules.replace'>> {
      const ids = new Set(req.rules.map((r) => r.rule_id));
      // The original fails the whole PUT on a repeated rule_id (its primary key), nothing changed.
      if (ids.size !== req.rules.length) throw fault('OPERATION_FAILED', 'save rules');
      await tx.run(DELETE_PROJECT, req.project);
      const now = storageNow();
      for (const r of req.rules) await tx.run(INSERT, ...row({ ...r, project: req.project, proposed_by: '', context: '' }, 'accepted', now));
      return { count: req.rules.length };
    },

    async decide(tx: Tx, req: ReqOf<M, 'rules.decide'>): Promise<ResOf<M, 'rules.decide'>> {
      if ((await tx.run(DECIDE, req.status, req.project, req.rule_id)) === 0) {
        throw fault('PROPOSED_RULE_NOT_FOUND', req.project, req.rule_id);
      }
      return { project: req.project, rule_id: req.rule_id, status: req.status };
    },

    async delete(tx: Tx, req: ReqOf<M, 'rules.delete'>): Promise<ResOf<M, 'rules.delete'>> {
      if ((await tx.run(DELETE_ONE, req.project, req.rule_id)) === 0) throw fault('RULE_NOT_FOUND', req.project, req.rule_id);
      return { project: req.project, rule_id: req.rule_id };
    },

    async import(tx: Tx, req: ReqOf<M, 'rules.import'>): Promise<ResOf<M, 'rules.import'>> {
      const now = storageNow();
      for (const r of req.rules) await tx.run(UPSERT, ...row(r, 'accepted', now));
      return { imported: req.rules.length };
    },
  };
}
