/**
 * Validation benchmark: what running rule patterns in the pool buys and costs.
 *
 *   rules      validations/s of POST /api/validate/{project} for a 20-rule project on a 10 KB
 *              file, koor (patterns in the piscina pool) vs a same-run inline baseline
 *              (bench/baselines/validate.ts: bare uWS evaluating the same rules with the same
 *              code on its main thread), and during each flood the latency of GET /health
 *              probes (one at a time): the event-loop lag a validation flood imposes on everyone.
 *   contract   validations/s of POST /api/contracts/{p}/{name}/validate (the cached ajv
 *              validator) next to the rules figure, when the contracts routes are mounted.
 *
 * Servers on core 0, this process (autocannon and the probe) on core 1 (taskset), when available.
 *
 *   npm run bench -- validate [--quick]
 */
import fs from 'node:fs';
import path from 'node:path';
import { makeTempDir } from '../lib/cleanup.js';
import { fmtInt, fmtMs, fmtRatio, ratio } from '../lib/format.js';
import { LatencyHistogram, type LatencySummary } from '../lib/latency.js';
import { runLoad, type LoadResult } from '../lib/load.js';
import { pin, spawnBenchScript, spawnKoor, type ServerProc } from '../lib/processes.js';
import type { BenchOptions, BenchTable } from '../lib/suite.js';

const PROJECT = 'bench';
const CONNECTIONS = 16;
const FILE_BYTES = 10 * 1024;


/** 20 rules of the kinds teams write: case-insensitive regexes, required markers, custom. */
function benchRules() {
  const regex = [
    '(?i)style\\s*=', 'eval\\(', '\\bvar\\s+\\w+', '==[^=]', 'TODO|FIXME', '(?i)password\\s*[:=]', 'console\\.(warn|error)\\(',
    'debugger;', '\\bany\\b', 'setTimeout\\(\\s*["\']', '(?i)<script', 'innerHTML\\s*=', 'process\\.env\\.[A-Z_]+', '@ts-ignore', 'new Function\\(',
  ];
  return [
    ...regex.map((pattern, i) => ({ rule_id: `r${String(i).padStart(2, '0')}`, severity: 'error', match_type: 'regex', pattern, message: '' })),
    { rule_id: 'm00', severity: 'warning', match_type: 'missing', pattern: '(?i)copyright', message: '' },
    { rule_id: 'm01', severity: 'warning', match_type: 'missing', pattern: 'use strict', message: '' },
    { rule_id: 'm02', severity: 'warning', match_type: 'missing', pattern: '^export ', message: '' },
    { rule_id: 'c00', severity: 'error', match_type: 'custom', pattern: 'no-console-log', message: '' },
    { rule_id: 'c01', severity: 'error', match_type: 'custom', pattern: 'alert\\(', message: '' },
  ];
}

/** ~10 KB of TypeScript-looking lines, a few of which break rules. */
function benchFile(): string {
  const lines: string[] = [];
  for (let i = 0; lines.join('\n').length < FILE_BYTES; i++) {
    lines.push(
      i % 40 === 7
        ? `  console.log("step ${i}", value${i}); // TODO tidy`
        : `  const value${i} = compute(input${i}, { retries: ${i % 5}, label: "item-${i}" }) ?? fallback${i};`,
    );
  }
  return lines.join('\n');
}

interface Flood {
  load: LoadResult;
  probe: LatencySummary;
  probes: number;
}

/** A validation flood against `url` with GET /health probed one at a time alongside it. */
async function flood(base: string, urlPath: string, body: string, durationS: number): Promise<Flood> {
  const hist = new LatencyHistogram();
  let probes = 0;
  let running = true;
  const probe = (async () => {
    while (running) {
      const t0 = process.hrtime.bigint();
      const r = await fetch(`${base}/health`);
      await r.arrayBuffer();
      hist.record(Number(process.hrtime.bigint() - t0) / 1e6);
      probes++;
      await new Promise((res) => setTimeout(res, 5));
    }
  })();
  try {
    const load = await runLoad({ url: `${base}${urlPath}`, method: 'POST', headers: { 'content-type': 'application/json' }, body, connections: CONNECTIONS, durationS, okStatuses: [200] });
    return { load, probe: hist.summary(), probes };
  } finally {
    running = false;
    await probe;
  }
}

export async function run(opts: BenchOptions): Promise<Record<string, unknown>> {
  const durationS = opts.quick ? 3 : 10;
  const rules = benchRules();
  const content = benchFile();
  const body = JSON.stringify({ filename: 'src/app.ts', content });
  const tmp = makeTempDir('koor-bench-validate-');
  const rulesFile = path.join(tmp.dir, 'rules.json');
  fs.writeFileSync(rulesFile, JSON.stringify(rules));
  const warnings: string[] = [];
  let koor: ServerProc | null = null;
  let inline: ServerProc | null = null;
  try {
    koor = await spawnKoor();
    inline = await spawnBenchScript('baseline-validate', 'baselines/validate.js', [rulesFile]);
    const pinned = pin(koor.pid, 0) && pin(inline.pid, 0) && pin(process.pid, 1);
    if (!pinned) warnings.push('taskset unavailable: servers and load generator share cores');
    const put = await fetch(`${koor.url}/api/validate/${PROJECT}/rules`, { method: 'PUT', body: JSON.stringify(rules) });
    if (put.status !== 200) throw new Error(`PUT rules: HTTP ${put.status} ${await put.text()}`);
    // Same answer from both: the comparison is of the same work.
    const [a, b] = await Promise.all([koor, inline].map(async (s) => (await (await fetch(`${s!.url}/api/validate/${PROJECT}`, { method: 'POST', body })).json()) as { count: number }));
    if (a!.count !== b!.count) warnings.push(`koor found ${a!.count} violations, the inline baseline ${b!.count}`);
    opts.log(`validate: ${rules.length} rules, ${content.length} B file, ${a!.count} violations each; ${durationS} s per flood, ${CONNECTIONS} connections`);

    // Alternate the order so drift hits both alike.
    const order = [inline, koor, koor, inline] as const;
    const results: Record<string, Flood[]> = { koor: [], inline: [] };
    for (const s of order) {
      const name = s === koor ? 'koor' : 'inline';
      opts.log(`  ${name} flood…`);
      results[name]!.push(await flood(s.url, `/api/validate/${PROJECT}`, body, durationS));
    }
    const best = (fl: Flood[]) => fl.reduce((x, y) => (y.load.rps > x.load.rps ? y : x));
    const k = best(results.koor!);
    const i = best(results.inline!);
    const bad = [...results.koor!, ...results.inline!].reduce((n, f) => n + f.load.unexpected + f.load.errors, 0);
    if (bad > 0) warnings.push(`${bad} unexpected statuses or errors during the floods`);

    // Contract validations with the cached ajv validator, when the routes exist.
    let contract: LoadResult | null = null;
    const spec = {
      kind: 'contract',
      version: 1,
      endpoints: {
        'POST /api/trucks': {
          request: { plate: { type: 'string', required: true }, type: { type: 'string', enum: ['semi', 'tanker'] }, axles: { type: 'number' }, tags: { type: 'array', items: { type: 'string' } } },
          response: { id: { type: 'string', required: true } },
        },
      },
    };
    await fetch(`${koor.url}/api/specs/${PROJECT}/trucks`, { method: 'PUT', body: JSON.stringify(spec) });
    const cbody = JSON.stringify({ endpoint: 'POST /api/trucks', direction: 'request', payload: { plate: 'AB-123', type: 'semi', axles: 5, tags: ['a', 'b'] } });
    const probe = await fetch(`${koor.url}/api/contracts/${PROJECT}/trucks/validate`, { method: 'POST', body: cbody });
    if (probe.status === 200) {
      await probe.arrayBuffer();
      opts.log('  contract flood…');
      contract = await runLoad({ url: `${koor.url}/api/contracts/${PROJECT}/trucks/validate`, method: 'POST', body: cbody, connections: CONNECTIONS, durationS, okStatuses: [200] });
    } else {
      await probe.arrayBuffer();
      warnings.push(`contract validation route answered HTTP ${probe.status}: row skipped`);
    }

    const tables: BenchTable[] = [
      {
        title: `Rule validation: ${rules.length} rules, ${Math.round(content.length / 1024)} KB file, ${CONNECTIONS} connections (best of 2 floods each)`,
        columns: ['server', 'validations/s', 'p50 ms', 'p99 ms', 'GET /health p50 ms', 'GET /health p99 ms', 'probes'],
        rows: [
          ['koor (pool)', fmtInt(k.load.rps), fmtMs(k.load.latency_ms.p50), fmtMs(k.load.latency_ms.p99), fmtMs(k.probe.p50), fmtMs(k.probe.p99), fmtInt(k.probes)],
          ['inline baseline', fmtInt(i.load.rps), fmtMs(i.load.latency_ms.p50), fmtMs(i.load.latency_ms.p99), fmtMs(i.probe.p50), fmtMs(i.probe.p99), fmtInt(i.probes)],
          ['koor / inline', fmtRatio(ratio(k.load.rps, i.load.rps)), '', '', '', fmtRatio(ratio(k.probe.p99 ?? 0, i.probe.p99 ?? 0)), ''],
        ],
      },
    ];
    if (contract) {
      tables.push({
        title: 'Contract validation (cached ajv validator), same connections',
        columns: ['route', 'validations/s', 'p50 ms', 'p99 ms'],
        rows: [['POST /api/contracts/{p}/{name}/validate', fmtInt(contract.rps), fmtMs(contract.latency_ms.p50), fmtMs(contract.latency_ms.p99)]],
      });
    }
    return {
      ok: bad === 0,
      rules: rules.length,
      file_bytes: content.length,
      violations: a!.count,
      pinned,
      koor: { rps: k.load.rps, latency_ms: k.load.latency_ms, health_ms: k.probe },
      inline: { rps: i.load.rps, latency_ms: i.load.latency_ms, health_ms: i.probe },
      ratio_rps: ratio(k.load.rps, i.load.rps),
      ratio_health_p99: ratio(k.probe.p99 ?? 0, i.probe.p99 ?? 0),
      contract: contract ? { rps: contract.rps, latency_ms: contract.latency_ms } : null,
      tables,
      warnings,
      notes: ['GET /health probes run one at a time beside the flood: their latency is the event-loop lag each server imposes on every other request while validating.'],
    };
  } finally {
    await koor?.stop();
    await inline?.stop();
    tmp.remove();
  }
}
