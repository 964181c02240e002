import { Type, type Static } from '../typebox.js';
import { Instant, PathViolation } from './common.js';

/** A compliance run: one (instance, contract) of one pass. */
export const ComplianceRun = Type.Object({
  id: Type.Integer(),
  instance_id: Type.String(),
  project: Type.String(),
  contract: Type.String(),
  pass: Type.Boolean(),
  violations: Type.Array(PathViolation),
  run_at: Instant,
});

export type ComplianceRun = Static<typeof ComplianceRun>;

export const ComplianceHistoryReply = Type.Array(ComplianceRun);

/** POST /api/compliance/run. */
export const ComplianceRunReply = Type.Object({ checked: Type.Literal(true), runs: ComplianceHistoryReply, count: Type.Integer() });

export type ComplianceRunReply = Static<typeof ComplianceRunReply>;
