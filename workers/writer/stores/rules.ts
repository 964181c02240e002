import type { ReqOf, ResOf } from '../../../schemas/rpc/envelope.js';
import type { RuleRow, WriterMethods } from '../../../schemas/rpc/writer.js';
import { storageNow, type DB } from '../db.js';
import { Fault } from '../fault.js';

type M = WriterMethods;

/** Validation rules and their lifecycle (SPEC §2.7–2.8). */
export function ruleStore(db: DB) {
  const exists = db.prepare<[string, string], number>('SELECT 1 FROM validation_rules WHERE project = ? AND rule_id = ?').pluck();
  const insert = db.prepare(
    `INSERT INTO validation_rules (project, rule_id, severity, match_type, pattern, message, stack, applies_to, source, status, proposed_by, context, created_at)
     VALUES (@project, @rule_id, @severity, @match_type, @pattern, @message, @stack, @applies_to, @source, @status, @proposed_by, @context, @created_at)`,
  );
  const deleteProject = db.prepare('DELETE FROM validation_rules WHERE project = ?');
  const deleteOne = db.prepare('DELETE FROM validation_rules WHERE project = ? AND rule_id = ?');
  const decide = db.prepare("UPDATE validation_rules SET status = ? WHERE project = ? AND rule_id = ? AND status = 'proposed'");
  const upsert = db.prepare(
    `INSERT INTO validation_rules (project, rule_id, severity, match_type, pattern, message, stack, applies_to, source, status, proposed_by, context, created_at)
     VALUES (@project, @rule_id, @severity, @match_type, @pattern, @message, @stack, @applies_to, @source, @status, @proposed_by, @context, @created_at)
     ON CONFLICT(project, rule_id) DO UPDATE SET severity = excluded.severity, match_type = excluded.match_type,
       pattern = excluded.pattern, message = excluded.message, stack = excluded.stack, applies_to = excluded.applies_to,
       source = excluded.source, status = @status`,
  );
  const row = (r: RuleRow, status: string, now: string) => ({ ...r, applies_to: JSON.stringify(r.applies_to), status, created_at: now });

  return {
    propose(req: ReqOf<M, 'rules.propose'>): ResOf<M, 'rules.propose'> {
      // SPEC §7-18: a duplicate proposal is a conflict (409), never an overwrite.
      if (exists.get(req.project, req.rule_id)) throw new Fault('ALREADY_EXISTS', 'failed to propose rule');
      insert.run(row({ ...req, source: 'learned' }, 'proposed', storageNow()));
      return { project: req.project, rule_id: req.rule_id, status: 'proposed' };
    },

    replace(req: ReqOf<M, 'rules.replace'>): ResOf<M, 'rules.replace'> {
      const ids = new Set(req.rules.map((r) => r.rule_id));
      // The original fails the whole PUT on a repeated rule_id (its primary key), nothing changed.
      if (ids.size !== req.rules.length) throw new Fault('INTERNAL', 'failed to save rules');
      deleteProject.run(req.project);
      const now = storageNow();
      for (const r of req.rules) insert.run(row({ ...r, project: req.project, proposed_by: '', context: '' }, 'accepted', now));
      return { count: req.rules.length };
    },

    decide(req: ReqOf<M, 'rules.decide'>): ResOf<M, 'rules.decide'> {
      if (decide.run(req.status, req.project, req.rule_id).changes === 0) {
        throw new Fault('NOT_FOUND', `proposed rule not found: ${req.project}/${req.rule_id}`);
      }
      return { project: req.project, rule_id: req.rule_id, status: req.status };
    },

    delete(req: ReqOf<M, 'rules.delete'>): ResOf<M, 'rules.delete'> {
      if (deleteOne.run(req.project, req.rule_id).changes === 0) throw new Fault('NOT_FOUND', `rule not found: ${req.project}/${req.rule_id}`);
      return { project: req.project, rule_id: req.rule_id };
    },

    import(req: ReqOf<M, 'rules.import'>): ResOf<M, 'rules.import'> {
      const now = storageNow();
      for (const r of req.rules) upsert.run(row(r, 'accepted', now));
      return { imported: req.rules.length };
    },
  };
}
