/**
 * The peers client's cas scenario: clients adding 1 to one counter by compare-and-set on each
 * server (in this process, or with the C generator bench/peers/cas.c), and the check that no
 * success was lost.
 */
import { execFile } from 'node:child_process';
import type { Spec } from './spec.js';
import { pct, round, serverCpu, window } from './client-figures.js';
import { NATS_BUCKET, kvSubject } from './ops.js';
import { HttpConn, b64 } from './proto-http.js';
import { Nats } from './proto-nats.js';
import { Redis, type Resp } from './proto-redis.js';

const CAS_KEY = 'bench/counter';
const REDIS_CAS = `local v = redis.call('GET', KEYS[1]) if v == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2]) return {1, ARGV[2]} else return {0, v} end`;

/** One client's compare-and-set of +1: true on success; `cur` is updated with what it learnt. */
type Cas = (cur: { value: number; rev: string }) => Promise<boolean>;

async function casClients(spec: Spec, n: number): Promise<{ read: () => Promise<{ value: number; rev: string }>; cas: Cas[]; close: () => void; learnsOnConflict: boolean; script?: string }> {
  switch (spec.peer) {
    case 'koor': {
      // One hand-read connection per client (HttpConn): node:http was the limit of this row.
      const conns = await Promise.all(Array.from({ length: n }, () => HttpConn.connect(spec.port)));
      const c0 = conns[0]!;
      const read = async () => {
        const r = await c0.request('GET', `/api/state/${CAS_KEY}`);
        return { value: Number(r.body.toString()), rev: String(r.headers['x-koor-version']) };
      };
      const cas = (h: HttpConn): Cas => async (cur) => {
        const r = await h.json<{ succeeded: boolean; results: Array<{ version?: number; value?: unknown }> }>('POST', '/api/txn', {
          compare: [{ key: CAS_KEY, version: Number(cur.rev) }],
          success: [{ op: 'put', key: CAS_KEY, value: cur.value + 1 }],
          failure: [{ op: 'get', key: CAS_KEY }],
        });
        if (r.status !== 200) throw new Error(`koor txn: HTTP ${r.status} ${JSON.stringify(r.json).slice(0, 200)}`);
        const res = r.json.results[0]!;
        if (r.json.succeeded) {
          cur.value += 1;
          cur.rev = String(res.version);
          return true;
        }
        cur.value = Number(res.value);
        cur.rev = String(res.version);
        return false;
      };
      await c0.request('PUT', `/api/state/${CAS_KEY}`, '0');
      return { read, cas: conns.map(cas), close: () => conns.forEach((c) => c.close()), learnsOnConflict: true };
    }
    case 'etcd': {
      const conns = await Promise.all(Array.from({ length: n }, () => HttpConn.connect(spec.port)));
      const c0 = conns[0]!;
      type Kv = { mod_revision: string; value: string };
      const read = async () => {
        const r = await c0.json<{ kvs: Kv[] }>('POST', '/v3/kv/range', { key: b64(CAS_KEY) });
        const kv = r.json.kvs[0]!;
        return { value: Number(Buffer.from(kv.value, 'base64').toString()), rev: kv.mod_revision };
      };
      const cas = (h: HttpConn): Cas => async (cur) => {
        const r = await h.json<{ succeeded?: boolean; header: { revision: string }; responses: Array<{ response_range?: { kvs: Kv[] } }> }>('POST', '/v3/kv/txn', {
          compare: [{ key: b64(CAS_KEY), target: 'MOD', result: 'EQUAL', mod_revision: cur.rev }],
          success: [{ request_put: { key: b64(CAS_KEY), value: b64(String(cur.value + 1)) } }],
          failure: [{ request_range: { key: b64(CAS_KEY) } }],
        });
        if (r.status !== 200) throw new Error(`etcd txn: HTTP ${r.status} ${JSON.stringify(r.json).slice(0, 200)}`);
        if (r.json.succeeded) {
          cur.value += 1;
          cur.rev = r.json.header.revision;
          return true;
        }
        const kv = r.json.responses[0]!.response_range!.kvs[0]!;
        cur.value = Number(Buffer.from(kv.value, 'base64').toString());
        cur.rev = kv.mod_revision;
        return false;
      };
      await c0.json('POST', '/v3/kv/put', { key: b64(CAS_KEY), value: b64('0') });
      return { read, cas: conns.map(cas), close: () => conns.forEach((c) => c.close()), learnsOnConflict: true };
    }
    case 'redis': {
      const conns = await Promise.all(Array.from({ length: n }, () => Redis.connect(spec.port)));
      const c0 = conns[0]!;
      await c0.command('SET', CAS_KEY, '0');
      const sha = String(await c0.command('SCRIPT', 'LOAD', REDIS_CAS));
      const read = async () => ({ value: Number(String(await c0.command('GET', CAS_KEY))), rev: '' });
      return {
        read,
        cas: conns.map((c) => async (cur) => {
          const r = (await c.command('EVALSHA', sha, '1', CAS_KEY, String(cur.value), String(cur.value + 1))) as Resp;
          if (r instanceof Error) throw r;
          const [ok, v] = r as [number, Buffer];
          cur.value = Number(String(v));
          return ok === 1;
        }),
        close: () => conns.forEach((c) => c.close()),
        learnsOnConflict: true,
        script: sha,
      };
    }
    case 'nats': {
      const conns = await Promise.all(Array.from({ length: n }, () => Nats.connect(spec.port)));
      const subj = kvSubject(CAS_KEY);
      const get = async (c: Nats) => {
        const m = await c.request(`$JS.API.DIRECT.GET.${NATS_BUCKET}`, JSON.stringify({ last_by_subj: subj }));
        return { value: Number(m.data.toString()), rev: m.headers.get('nats-sequence') ?? '0' };
      };
      await conns[0]!.request(subj, '0');
      return {
        read: () => get(conns[0]!),
        cas: conns.map((c) => async (cur) => {
          const m = await c.request(subj, String(cur.value + 1), 10_000, { 'Nats-Expected-Last-Subject-Sequence': cur.rev });
          const j = JSON.parse(m.data.toString()) as { seq?: number; error?: { err_code: number; description: string } };
          if (!j.error && j.seq !== undefined) {
            cur.value += 1;
            cur.rev = String(j.seq);
            return true;
          }
          if (j.error?.err_code !== 10071) throw new Error(`nats cas: ${j.error?.description}`);
          Object.assign(cur, await get(c)); // the error names the sequence, not the value: re-read
          return false;
        }),
        close: () => conns.forEach((c) => c.close()),
        learnsOnConflict: false,
      };
    }
  }
}

/** What both generators of the cas row report: the rate, the check that nothing was lost, the window. */
function casResult(n: number, r: { successes: number; conflicts: number; errors: number; first_error: string; duplicates: number; success_p50_ms: number | null }, final: number, reReads: boolean, win: { wall_s: number; server_cpu_s: number; gen_cores: number }) {
  const lost = final - r.successes; // each success added exactly one: a difference is a lost (or phantom) update
  return {
    clients: n,
    successes: r.successes,
    per_s: Math.round(r.successes / win.wall_s),
    conflicts: r.conflicts,
    success_p50_ms: round(r.success_p50_ms ?? NaN),
    final_value: final,
    ok: lost === 0 && r.duplicates === 0 && r.errors === 0,
    check: lost === 0 && r.duplicates === 0 ? `final ${final} = ${r.successes} successes, no value written twice` : `final ${final} vs ${r.successes} successes, ${r.duplicates} values written twice`,
    re_read_on_conflict: reReads,
    errors: r.errors,
    first_error: r.first_error,
    ...win,
  };
}

/**
 * The cas row with the generator in C (bench/peers/cas.c): this process sets the counter up and
 * checks the final value; the C process runs the clients, and its CPU is the generator's.
 */
async function casNative(spec: Spec, bin: string) {
  const n = spec.connections ?? 16;
  const durationS = spec.durationS ?? 1;
  const c = await casClients(spec, 1);
  const cur = await c.read();
  const c0 = serverCpu(spec.pid);
  const out = await new Promise<string>((resolve, reject) =>
    execFile(bin, [spec.peer, String(spec.port), String(n), String(durationS), String(cur.value), cur.rev || '0', c.script ?? ''], { timeout: (durationS + 45) * 1000 }, (err, stdout, stderr) => (err ? reject(new Error(`cas generator: ${err.message} ${stderr}`)) : resolve(stdout))),
  );
  const serverCpuS = round(serverCpu(spec.pid) - c0);
  const r = JSON.parse(out) as { successes: number; conflicts: number; errors: number; first_error: string; duplicates: number; success_p50_ms: number; wall_s: number; cpu_s: number };
  const final = (await c.read()).value;
  c.close();
  return casResult(n, { ...r, success_p50_ms: r.success_p50_ms < 0 ? null : r.success_p50_ms }, final, !c.learnsOnConflict, { wall_s: r.wall_s, server_cpu_s: serverCpuS, gen_cores: round(r.cpu_s / r.wall_s, 2) });
}

export async function cas(spec: Spec) {
  if (spec.casBin) return casNative(spec, spec.casBin);
  const n = spec.connections ?? 16;
  const durationMs = (spec.durationS ?? 1) * 1000;
  const c = await casClients(spec, n);
  let successes = 0;
  let conflicts = 0;
  let errors = 0;
  let firstError = '';
  const written = new Set<number>();
  let duplicates = 0;
  const lat: number[] = [];
  const w = window(spec.pid);
  const end = performance.now() + durationMs;
  await Promise.all(
    c.cas.map(async (f) => {
      let cur = await c.read();
      while (performance.now() < end) {
        const t = performance.now();
        try {
          const from = cur.value;
          if (await f(cur)) {
            successes++;
            lat.push(performance.now() - t);
            if (written.has(from + 1)) duplicates++;
            written.add(from + 1);
          } else conflicts++;
        } catch (e) {
          errors++;
          firstError ||= (e as Error).message;
          if (errors > 100) return;
          cur = await c.read();
        }
      }
    }),
  );
  const win = w();
  const final = (await c.read()).value;
  c.close();
  lat.sort((a, b) => a - b);
  return casResult(n, { successes, conflicts, errors, first_error: firstError, duplicates, success_p50_ms: pct(lat, 50) }, final, !c.learnsOnConflict, win);
}
