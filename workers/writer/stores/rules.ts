import type { ReqOf, ResOf } from '../../../schemas/rpc/envelope.js';
import type { WriterMethods } from '../../../schemas/rpc/writer.js';
import { storageNow, type DB } from '../db.js';
import { Fault } from '../fault.js';

type M = WriterMethods;

/** Validation rules (SPEC §2.7–2.8). This issue needs only proposals (MCP propose_rule). */
export function ruleStore(db: DB) {
  const exists = db.prepare<[string, string], number>('SELECT 1 FROM validation_rules WHERE project = ? AND rule_id = ?').pluck();
  const insert = db.prepare(
    `INSERT INTO validation_rules (project, rule_id, severity, match_type, pattern, message, stack, applies_to, source, status, proposed_by, context, created_at)
     VALUES (@project, @rule_id, @severity, @match_type, @pattern, @message, @stack, '["*"]', 'learned', 'proposed', @proposed_by, @context, @now)`,
  );
  return {
    propose(req: ReqOf<M, 'rules.propose'>): ResOf<M, 'rules.propose'> {
      // Existing (project, rule_id) is never overwritten by a proposal; 409 (SPEC §7-18).
      if (exists.get(req.project, req.rule_id)) throw new Fault('ALREADY_EXISTS', `rule already exists: ${req.project}/${req.rule_id}`);
      insert.run({ ...req, now: storageNow() });
      return { project: req.project, rule_id: req.rule_id, status: 'proposed' };
    },
  };
}
