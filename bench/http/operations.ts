/**
 * The cost of operations, the last part of the http suite and the operations suite on its own:
 * durable PUT/s and publish/s with webhooks delivering to a local receiver (webhook-receiver.ts),
 * and with every request identified as an agent, against neither.
 */
import http from 'node:http';
import os from 'node:os';
import { WEBHOOK_BACKLOG_MAX, WEBHOOK_THREAD_NICE } from '../../src/shared/limits-features.js';
import { makeTempDir } from '../lib/cleanup.js';
import { fmtInt, fmtMs, fmtRatio, ratio } from '../lib/format.js';
import { runLoad } from '../lib/load.js';
import { have, pin, spawnBenchScript, spawnKoor } from '../lib/processes.js';
import type { BenchOptions, BenchTable } from '../lib/suite.js';
import { wrk, wrkCpu, wrkScript } from '../lib/wrk.js';
import { CONNECTIONS, PIPELINING, PUT_KEYS, scenarios } from './scenarios.js';

/**
 * The receiver's delivery count, on a connection of its own: uWS closes idle keep-alive
 * connections after 10 s, and fetch fails on one it reuses after a 10 s run.
 */
function deliveredTo(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get(`${url}/count`, { agent: false }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve((JSON.parse(text) as { deliveries: number }).deliveries));
      })
      .on('error', reject);
  });
}

/**
 * The cost of operations: durable PUT/s and publish/s on fresh servers (a) as is (every
 * PUT is audited, as the audit log requires; no webhook), (b) with 5 active webhooks matching every
 * event, delivered to a local receiver process (each publish causes 5 POSTs, made by the delivery
 * thread from the webhooks' cursors in the event log), (c) with every request identified as an agent
 * (X-Koor-Instance: audit actor, per-agent metrics). Goal: each costs at most 10 % of (a).
 */
export async function operationsCost(opts: BenchOptions, doc: string, durationS: number, warmupS: number, failures: string[]) {
  const receiver = await spawnBenchScript('webhook-receiver', 'http/webhook-receiver.js');
  // wrk pinned to core 1 (with the receiver, at nice 19), the server on core 0, when the machine
  // has them: autocannon shares the cores with the server, the deliveries and the receiver, and a
  // generator that slows down reads as a slower server.
  const pinned = have('wrk') && have('taskset') && os.availableParallelism() >= 2;
  if (pinned) pin(receiver.pid, 1);
  else opts.log('operations: wrk/taskset or a second core missing: autocannon, unpinned (noisier)');
  const tmp = makeTempDir('koor-bench-ops-');
  const publishBody = JSON.stringify({ topic: 'bench.ops', data: { doc } });
  const modes = [
    { id: 'plain', label: 'no webhook, anonymous (audit on)' },
    { id: 'webhooks', label: '5 webhooks → local receiver' },
    { id: 'identified', label: 'identified agent (actor + agent metrics)' },
  ] as const;
  const results: Record<string, Record<string, unknown>> = {};
  const rows: BenchTable['rows'] = [];
  try {
    for (const m of modes) {
      const proc = await spawnKoor([]);
      if (pinned) pin(proc.pid, 0);
      try {
        const headers: Record<string, string> = { 'content-type': 'application/json' };
        if (m.id === 'webhooks') {
          for (let i = 0; i < 5; i++) {
            const r = await fetch(`${proc.url}/api/webhooks`, { method: 'POST', headers, body: JSON.stringify({ id: `bench-${i}`, url: `${receiver.url}/hook`, secret: 'bench' }) });
            if (r.status !== 200) throw new Error(`webhook create: ${r.status}`);
          }
        }
        if (m.id === 'identified') {
          const reg = (await (await fetch(`${proc.url}/api/instances/register`, { method: 'POST', headers, body: '{"name":"bench-agent"}' })).json()) as { instance_id: string };
          headers['x-koor-instance'] = reg.instance_id;
        }
        const put = scenarios(doc).find((x) => x.id === 'put')!.load({ name: 'koor', proc, etag: '', getHeaders: [] });
        const putSpec = { ...put, headers: { ...put.headers, ...headers }, setupClient: undefined, connections: CONNECTIONS, pipelining: PIPELINING, okStatuses: [200], timeoutS: 5 };
        const pubSpec = { url: `${proc.url}/api/events/publish`, method: 'POST' as const, headers, body: publishBody, connections: CONNECTIONS, pipelining: PIPELINING, okStatuses: [200], timeoutS: 5 };
        const before = await deliveredTo(receiver.url);
        /** One measured run: requests/s, p99, CPU of the server's main thread per request. */
        type Run = { rps: number; p99_ms: number | null; main_us: number | null };
        const measure = async (what: 'put' | 'publish'): Promise<Run> => {
          opts.log(`operations ${m.id}: ${what} ${durationS}s${pinned ? ' (wrk, pinned)' : ''}`);
          if (pinned) {
            const file = wrkScript(tmp.dir, `${m.id}-${what}`, what === 'put' ? { method: 'PUT', headers, body: doc, cycleKeys: '/api/state/bench/put/', keys: PUT_KEYS } : { method: 'POST', headers, body: publishBody });
            const url = what === 'put' ? `${proc.url}/api/state/bench/put/0` : `${proc.url}/api/events/publish`;
            wrk(url, file, warmupS, CONNECTIONS);
            const r = wrkCpu(proc.pid, url, file, durationS, CONNECTIONS);
            if (r.non2xx > 0) failures.push(`operations ${m.id} ${what}: ${r.non2xx} non-2xx replies`);
            return { rps: r.rps, p99_ms: r.p99_ms, main_us: r.main_us ?? null };
          }
          const spec = what === 'put' ? putSpec : pubSpec;
          await runLoad({ ...spec, durationS: warmupS });
          const r = await runLoad({ ...spec, durationS, pids: { koor: proc.pid } });
          if (r.errors > 0 || r.unexpected > 0) failures.push(`operations ${m.id} ${what}: ${r.errors} errors, ${r.unexpected} unexpected statuses`);
          const main = r.cpu.procs.koor?.threads.find((t) => t.main);
          return { rps: Math.round(r.ok_responses / r.duration_s), p99_ms: r.latency_ms.p99, main_us: main && r.ok_responses > 0 ? (main.cores * r.duration_s * 1e6) / r.ok_responses : null };
        };
        const p = await measure('put');
        const e = await measure('publish');
        // Deliveries made while the publishes ran, and what the outbox still held at the end.
        const after = await deliveredTo(receiver.url);
        const hooks = (await (await fetch(`${proc.url}/api/webhooks`)).json()) as Array<{ pending: number }>;
        const pending = hooks.reduce((n, h) => n + h.pending, 0);
        const putRps = p.rps;
        const pubRps = e.rps;
        // CPU of the server's main (JS) thread per request: the request path's own cost, which a
        // shared machine disturbs far less than req/s (background threads are reported apart).
        const putMainUs = p.main_us;
        const pubMainUs = e.main_us;
        results[m.id] = {
          put_rps: putRps,
          put_p99_ms: p.p99_ms,
          put_main_thread_us: putMainUs,
          publish_rps: pubRps,
          publish_p99_ms: e.p99_ms,
          publish_main_thread_us: pubMainUs,
          deliveries: after - before,
          pending_after: pending,
          driver: pinned ? 'wrk, server core 0, wrk + receiver core 1' : 'autocannon, unpinned',
        };
        const us = (x: number | null) => (x === null ? '-' : x.toFixed(1));
        rows.push([m.label, fmtInt(putRps), fmtMs(p.p99_ms), us(putMainUs), fmtInt(pubRps), fmtMs(e.p99_ms), us(pubMainUs), m.id === 'webhooks' ? fmtInt(after - before) : '-', m.id === 'webhooks' ? fmtInt(pending) : '-']);
      } finally {
        await proc.stop();
      }
    }
  } finally {
    await receiver.stop();
    tmp.remove();
  }
  const plain = results.plain!;
  const ratios = Object.fromEntries(
    (['webhooks', 'identified'] as const).map((id) => [id, { put: ratio(results[id]!.put_rps as number, plain.put_rps as number), publish: ratio(results[id]!.publish_rps as number, plain.publish_rps as number) }]),
  );
  const usRatio = (id: string, k: string) => ratio(plain[k] as number, results[id]![k] as number);
  const cpuRatios = Object.fromEntries((['webhooks', 'identified'] as const).map((id) => [id, { put: usRatio(id, 'put_main_thread_us'), publish: usRatio(id, 'publish_main_thread_us') }]));
  for (const id of ['webhooks', 'identified'] as const) {
    rows.push([`${id} / plain`, fmtRatio(ratios[id]!.put), '', fmtRatio(cpuRatios[id]!.put), fmtRatio(ratios[id]!.publish), '', fmtRatio(cpuRatios[id]!.publish), '', '']);
  }
  const table: BenchTable = {
    title: `Cost of operations (goal: each >= 0.90x of plain), ${CONNECTIONS} connections, ${durationS}s per run, ${pinned ? 'wrk on core 1, server on core 0' : 'autocannon, unpinned'}`,
    columns: ['server', 'PUT/s', 'PUT p99 ms', 'PUT main us', 'publish/s', 'publish p99 ms', 'pub main us', 'deliveries', 'pending after'],
    rows,
  };
  const notes = [
    "'main us' = CPU of koor's main thread per request; its ratio row is plain / mode (1.00x = no extra request-path CPU). On a busy machine req/s ratios are noisy, the CPU ratios much less.",
    `webhooks: each publish matches all 5 webhooks (5 POSTs to a uWS receiver process on this machine, at nice 19 on the generator's core: it stands in for another host). The delivery thread runs at nice +${WEBHOOK_THREAD_NICE}: when the cores are busy, publishing wins and deliveries wait in the backlog (at most ${WEBHOOK_BACKLOG_MAX.toLocaleString('en')} events per webhook; 'pending after' = what is left to deliver).`,
  ];
  return { table, notes, results: { ...results, ratios, main_thread_cpu_ratios: cpuRatios } };
}
