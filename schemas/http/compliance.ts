import { Type, type Static } from '../typebox.js';
import { COMPLIANCE_RUN } from '../db/tables/compliance.js';

/** A compliance run: one (instance, contract) of one pass (schemas/db/tables/compliance.ts). */
export const ComplianceRun = COMPLIANCE_RUN.Wire;

export type ComplianceRun = Static<typeof ComplianceRun>;

export const ComplianceHistoryReply = Type.Array(ComplianceRun);

/** POST /api/compliance/run. */
export const ComplianceRunReply = Type.Object({ checked: Type.Literal(true), runs: ComplianceHistoryReply, count: Type.Integer() });

export type ComplianceRunReply = Static<typeof ComplianceRunReply>;
