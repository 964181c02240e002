/**
 * The cost of operations alone: the last part of the http suite, on its own so it
 * can be rerun quickly while working on webhooks, audit or agent metrics.
 *
 *   npm run bench -- operations [--quick]
 */
import type { BenchOptions } from '../lib/suite.js';
import { operationsCost } from '../http/operations.js';
import { makeDoc } from '../lib/doc.js';

export async function run(opts: BenchOptions): Promise<Record<string, unknown>> {
  const failures: string[] = [];
  const { table, notes, results } = await operationsCost(opts, makeDoc(), opts.quick ? 3 : 10, opts.quick ? 1 : 2, failures);
  return { ok: failures.length === 0, ...(failures.length > 0 ? { failures } : {}), tables: [table], notes, ...results };
}
