/** The speed suite's hot rows of this build against another build's (KOOR_BENCH_BASELINE), run A B B A. */
import path from 'node:path';
import { fmtInt, fmtMs, fmtRatio, ratio } from '../lib/format.js';
import { pin, spawnKoor, type ServerProc } from '../lib/processes.js';
import type { BenchOptions, BenchTable } from '../lib/suite.js';
import { wrkCpu as wrkCpuN, type Wrk } from '../lib/wrk.js';
import { CONNECTIONS, TOKEN } from './drive.js';

/** PUTs the document a server is to serve at /api/state/bench/doc; its ETag. */
export async function putDoc(base: string, headers: Record<string, string>, doc: string): Promise<string> {
  const r = await fetch(`${base}/api/state/bench/doc`, { method: 'PUT', headers: { ...headers, 'Content-Type': 'application/json' }, body: doc });
  const etag = r.headers.get('etag') ?? '';
  await r.arrayBuffer();
  if (r.status !== 200) throw new Error(`PUT doc: HTTP ${r.status}`);
  return etag;
}

/**
 * This build's hot rows against another build's (KOOR_BENCH_BASELINE): two servers started
 * together with the same flags, both on core 0, each row run A B B A so drift hits both alike:
 * the mean of each build's two runs. Retention passes are off in both (`--prune-interval 1h`):
 * the first, a minute after start, lands in whichever run is going then and cost it a quarter of
 * its publishes.
 */
export async function againstBaseline(
  main: string,
  s: { koorGet: string; koor304: string; put: string; publish: string },
  doc: string,
  durationS: number,
  opts: BenchOptions,
): Promise<{ results: Record<string, { koor: Wrk[]; base: Wrk[] }>; table: BenchTable }> {
  const flags = ['--auth-token', TOKEN, '--sync', 'full', '--prune-interval', '1h'];
  const [koor, base] = await Promise.all([spawnKoor(flags), spawnKoor(flags, {}, main)]);
  try {
    pin(koor.pid, 0);
    pin(base.pid, 0);
    // Same document, same version: the same ETag, so the 304 script fits both.
    const etags = await Promise.all([koor, base].map((p) => putDoc(p.url, { Authorization: `Bearer ${TOKEN}` }, doc)));
    if (etags[0] !== etags[1]) throw new Error(`baseline: ETag ${etags[1]} against ${etags[0]}`);
    const rows: Array<[string, string, string, number]> = [
      ['GET, auth on', '/api/state/bench/doc', s.koorGet, CONNECTIONS],
      ['GET 304', '/api/state/bench/doc', s.koor304, CONNECTIONS],
      ['PUT --sync full', '/api/state/bench/put/0', s.put, CONNECTIONS],
      ['PUT --sync full', '/api/state/bench/put/0', s.put, 1],
      ['publish (durable)', '', s.publish, CONNECTIONS],
    ];
    const results: Record<string, { koor: Wrk[]; base: Wrk[] }> = {};
    const one = (p: ServerProc, pathname: string, sc: string, c: number) => wrkCpuN(p.pid, `${p.url}${pathname}`, sc, durationS, c);
    for (const [what, pathname, sc, c] of rows) {
      opts.log(`  ${what}, ${c} conn.: this build and the baseline, A B B A…`);
      const r = { koor: [] as Wrk[], base: [] as Wrk[] };
      r.koor.push(one(koor, pathname, sc, c));
      r.base.push(one(base, pathname, sc, c));
      r.base.push(one(base, pathname, sc, c));
      r.koor.push(one(koor, pathname, sc, c));
      results[`${what}, c${c}`] = r;
    }
    const mean = (xs: Wrk[], f: (w: Wrk) => number | null | undefined) => xs.reduce((a, w) => a + (f(w) ?? NaN), 0) / xs.length;
    const cpu = (w: Wrk) => (w.main_us ?? NaN) + (w.other_us ?? 0);
    return {
      results,
      table: {
        title: `This build against the baseline (${path.relative(process.cwd(), main) || main}), A B B A, ${durationS} s runs: means of two`,
        columns: ['path', 'conn.', 'req/s', 'base req/s', 'ratio', 'p99 ms', 'base p99 ms', 'CPU µs/req', 'base CPU µs/req', 'CPU ratio'],
        rows: Object.entries(results).map(([k, r]) => {
          const c = Number(/c(\d+)$/.exec(k)![1]);
          const [rps, brps] = [mean(r.koor, (w) => w.rps), mean(r.base, (w) => w.rps)];
          const [p99, bp99] = [mean(r.koor, (w) => w.p99_ms), mean(r.base, (w) => w.p99_ms)];
          const [us, bus] = [mean(r.koor, cpu), mean(r.base, cpu)];
          return [k.replace(/, c\d+$/, ''), String(c), fmtInt(rps), fmtInt(brps), fmtRatio(ratio(rps, brps)), fmtMs(p99), fmtMs(bp99), us.toFixed(1), bus.toFixed(1), fmtRatio(ratio(us, bus))];
        }),
      },
    };
  } finally {
    await Promise.all([koor.stop(), base.stop()]);
  }
}
