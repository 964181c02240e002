/**
 * State watches and transactions, each against a baseline of the same server in the
 * same run. koor-server with its defaults (`--sync full`), pinned to core 0; wrk, the watchers and
 * this process on core 1.
 *
 *   put        PUT /api/state/bench/<n> (wrk, 32 connections) with 0 watchers, then with 100
 *              watchers connected to a prefix nobody writes (idle): an idle watcher must cost
 *              next to nothing — the ratio is the figure
 *   fan-out    one writer PUTs keys under fan/ one after another while 100 watchers of fan/ take
 *              every change: changes delivered per second — against the same writer publishing
 *              events to 100 subscribers of fan.* (the event bus's fan-out, the baseline)
 *   txn        POST /api/txn with 4 puts (wrk): keys written per second — against single PUTs
 *
 *   npm run bench -- watch [--quick]      (about 40 s quick)
 */
import os from 'node:os';
import WebSocket from 'ws';
import { makeTempDir } from '../lib/cleanup.js';
import { fmtInt, fmtRatio, ratio } from '../lib/format.js';
import { have, pin, spawnKoor } from '../lib/processes.js';
import type { BenchOptions, BenchTable } from '../lib/suite.js';
import { wrkCpu, wrkScript, type Wrk } from '../lib/wrk.js';

const CONNECTIONS = 32;
const WATCHERS = 100;

/** `n` sockets to `path`, each counting its frames; resolves once all are open. */
async function sockets(base: string, path: string, n: number): Promise<{ counts: number[]; lastAt: number[]; close: () => void }> {
  const counts = new Array<number>(n).fill(0);
  const lastAt = new Array<number>(n).fill(0);
  const list: WebSocket[] = [];
  await Promise.all(
    Array.from({ length: n }, (_, i) =>
      new Promise<void>((resolve, reject) => {
        const ws = new WebSocket(`${base.replace(/^http/, 'ws')}${path}`, { perMessageDeflate: false });
        ws.on('message', () => {
          counts[i]!++;
          lastAt[i] = performance.now();
        });
        ws.once('open', () => resolve());
        ws.once('error', reject);
        list.push(ws);
      }),
    ),
  );
  return { counts, lastAt, close: () => list.forEach((w) => w.terminate()) };
}

const post = (url: string, body: string, method = 'POST') => fetch(url, { method, body, headers: { 'content-type': 'application/json' } }).then((r) => r.text());

/** One writer, `writes` writes in a row, `WATCHERS` receivers: frames delivered per second, from the first write to the last frame. */
async function fanout(base: string, path: string, writes: number, write: (i: number) => Promise<unknown>): Promise<{ per_s: number; delivered: number }> {
  const s = await sockets(base, path, WATCHERS);
  try {
    const t0 = performance.now();
    for (let i = 0; i < writes; i++) await write(i);
    const until = Date.now() + 30_000;
    while (s.counts.some((c) => c < writes) && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    const delivered = s.counts.reduce((a, b) => a + b, 0);
    const end = Math.max(...s.lastAt);
    return { per_s: Math.round(delivered / ((end - t0) / 1000)), delivered };
  } finally {
    s.close();
  }
}

export async function run({ quick, log }: BenchOptions): Promise<Record<string, unknown>> {
  const durationS = quick ? 3 : 10;
  const writes = quick ? 300 : 1000;
  const missing = ['wrk', 'taskset'].filter((c) => !have(c));
  if (missing.length > 0) return { ok: true, skipped: `needs ${missing.join(', ')}`, warnings: [`watch: skipped, missing ${missing.join(', ')}`] };
  if (os.availableParallelism() < 2) return { ok: true, skipped: 'needs 2 cores', warnings: ['watch: skipped, one core'] };
  const tmp = makeTempDir('koor-bench-watch-');
  pin(process.pid, 1);
  const server = await spawnKoor();
  try {
    pin(server.pid, 0);
    const base = server.url;
    const putScript = wrkScript(tmp.dir, 'put', { method: 'PUT', headers: { 'Content-Type': 'application/json' }, body: '{"status":"building","step":3}', cycleKeys: '/api/state/bench/', keys: 1000 });
    const ops = Array.from({ length: 4 }, (_, i) => ({ op: 'put', key: `txn/k${i}`, value: { status: 'building', step: 3 } }));
    const txnScript = wrkScript(tmp.dir, 'txn', { method: 'POST', path: '/api/txn', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ success: ops }) });

    log('PUT with 0 watchers');
    const bare: Wrk[] = [wrkCpu(server.pid, base, putScript, durationS, CONNECTIONS)];
    log(`PUT with ${WATCHERS} idle watchers`);
    const idle = await sockets(base, '/api/state/watch?prefix=idle/', WATCHERS);
    const watched: Wrk[] = [wrkCpu(server.pid, base, putScript, durationS, CONNECTIONS)];
    idle.close();
    // A second round of each, in the other order: the machine is shared.
    const idle2 = await sockets(base, '/api/state/watch?prefix=idle/', WATCHERS);
    watched.push(wrkCpu(server.pid, base, putScript, durationS, CONNECTIONS));
    idle2.close();
    bare.push(wrkCpu(server.pid, base, putScript, durationS, CONNECTIONS));
    const best = (l: Wrk[]) => l.reduce((a, b) => (b.rps > a.rps ? b : a));

    log('fan-out: state watch vs event subscribe');
    const watchFan = await fanout(base, '/api/state/watch?prefix=fan/', writes, (i) => post(`${base}/api/state/fan/k${i % 50}`, '{"n":1}', 'PUT'));
    const eventFan = await fanout(base, '/api/events/subscribe?pattern=fan.*', writes, (i) => post(`${base}/api/events/publish`, `{"topic":"fan.k${i % 50}","data":{"n":1}}`));

    log('txn of 4 puts vs single PUTs');
    const txn = wrkCpu(server.pid, base, txnScript, durationS, CONNECTIONS);
    const single = wrkCpu(server.pid, base, putScript, durationS, CONNECTIONS);
    const problems = [...bare, ...watched, txn, single].filter((w) => w.non2xx > 0).map((w) => `${w.non2xx} non-2xx replies`);

    const b = best(bare);
    const w = best(watched);
    const tables: BenchTable[] = [
      {
        title: `PUT /api/state with and without ${WATCHERS} idle watchers (wrk on core 1, ${CONNECTIONS} connections, best of 2 × ${durationS} s; --sync full)`,
        columns: ['scenario', 'PUT/s', 'vs 0 watchers', 'server µs/op main + other'],
        rows: [
          ['0 watchers (baseline)', fmtInt(b.rps), '1.00x', `${b.main_us} + ${b.other_us}`],
          [`${WATCHERS} idle watchers`, fmtInt(w.rps), fmtRatio(ratio(w.rps, b.rps)), `${w.main_us} + ${w.other_us}`],
        ],
      },
      {
        title: `Fan-out to ${WATCHERS} receivers, one writer, ${writes} writes in a row (receivers in this process on core 1)`,
        columns: ['scenario', 'frames delivered/s', 'vs events'],
        rows: [
          ['event subscribe (baseline)', fmtInt(eventFan.per_s), '1.00x'],
          ['state watch', fmtInt(watchFan.per_s), fmtRatio(ratio(watchFan.per_s, eventFan.per_s))],
        ],
      },
      {
        title: `Keys written per second: a transaction of 4 puts vs single PUTs (wrk, ${CONNECTIONS} connections, ${durationS} s)`,
        columns: ['scenario', 'requests/s', 'keys/s', 'vs PUT'],
        rows: [
          ['PUT (baseline)', fmtInt(single.rps), fmtInt(single.rps), '1.00x'],
          ['POST /api/txn, 4 puts', fmtInt(txn.rps), fmtInt(txn.rps * 4), fmtRatio(ratio(txn.rps * 4, single.rps))],
        ],
      },
    ];
    return {
      ok: problems.length === 0 && watchFan.delivered === WATCHERS * writes,
      ...(problems.length > 0 ? { problems } : {}),
      tables,
      put: { bare: b, idle_watchers: w, ratio: ratio(w.rps, b.rps) },
      fanout: { events: eventFan, watch: watchFan, ratio: ratio(watchFan.per_s, eventFan.per_s) },
      txn: { txn, single, keys_ratio: ratio(txn.rps * 4, single.rps) },
    };
  } finally {
    await server.stop();
    tmp.remove();
  }
}
