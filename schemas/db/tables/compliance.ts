import { Type } from '../../typebox.js';
import { PathViolation } from '../../http/common.js';
import { f, input, record, shown } from '../record.js';

/**
 * Compliance runs: the newest 100 per (agent, contract) while the agent is
 * registered; once it is gone (deregistered, or its coding-agent session ended), its runs stay as
 * long as the audit log keeps entries, then retention removes them by `run_at`. Its reply is each
 * element of GET /api/compliance/history and of a pass's `runs`.
 */
export const COMPLIANCE_RUN = record(
  'compliance_runs',
  {
    id: f.int({ id: 'log' }),
    instance_id: input(f.text()),
    project: input(f.text()),
    contract: input(f.text()),
    pass: input(f.bool()),
    /** `[{"path","message"}]`, JSON text as the contract check gave it. */
    violations: input(shown(f.raw({ default: "'[]'" }), Type.Array(PathViolation))),
    run_at: f.time(),
  },
  {
    indexes: [
      { name: 'compliance_runs_instance', on: 'instance_id, contract, id' },
      { name: 'compliance_runs_run_at', on: 'run_at' },
    ],
  },
);
export const COMPLIANCE_RUNS = COMPLIANCE_RUN.table;
/** A compliance_runs row as the database returns it (`pass` 0 or 1). */
export type RunDbRow = Parameters<typeof COMPLIANCE_RUN.decode>[0];
