/**
 * The clients of a Jepsen-style run, as a process of their own inside a client namespace (the run's
 * network is not reachable from outside it). Each worker is attached to one node and records every
 * operation's invocation and completion on the machine's monotonic clock (shared by every process,
 * so histories from several namespaces merge): a timeout, a broken connection or a 504 is
 * indeterminate (ret Infinity); a refused connection, a 500, 503 or 507 had no effect (Koor says
 * so) and is not recorded. What it runs, per worker:
 *   register: reads, blind writes and compare-and-sets (If-Match the ETag it read) on a few keys;
 *   lease:    exclusive leases on a few resources, held briefly, released; a fenced write of the
 *             resource's state key under the lease, and half the time one after it is released;
 *   queue:    tasks added by one worker, claimed and completed by the others;
 *   hook:     a coding session's edit guard (PreToolUse) on the lease workers' resources;
 *   publish:  events published to the run's topic;
 *   subscribe: a WebSocket subscription to it, closed and resumed (since=<last id>) every few
 *             seconds and whenever it goes quiet past a ping's answer, each connection a session;
 *   watch:    a watch of the run's state keys, resumed the same way (since_revision=<last>).
 * Usage: node client.js '<json ClientPlan>' — the history is written to `plan.out` as JSON.
 */
import fs from 'node:fs';
import http from 'node:http';
import WebSocket from 'ws';
import { monoNow } from '../../src/shared/mono-clock.js';
import { sleep } from '../lib/async.js';
import type { Op } from './checker.js';
import type { LeaseInput, LeaseOutput, QueueInput, QueueOutput, RegisterInput, RegisterOutput } from './models.js';
import type { Publish, Session, Subscriber } from './streams.js';

export interface ClientPlan {
  /** Each worker's node (base URL) and kind. */
  workers: Array<{ node: string; kind: 'register' | 'lease' | 'queue' | 'publish' | 'subscribe' | 'watch' | 'hook' }>;
  durationMs: number;
  /** A request not answered within this long is indeterminate. */
  timeoutMs: number;
  /** A lease's TTL. */
  leaseTtlMs: number;
  /** The servers' --auto-lease-idle. */
  autoLeaseIdleMs: number;
  /** Distinguishes this process's names (agents, values, tasks) from another's. */
  tag: string;
  /** The run's own keys, resources and project (a cluster serves several runs). */
  run: string;
  out: string;
}

export interface History {
  register: Op<RegisterInput, RegisterOutput>[];
  lease: Op<LeaseInput, LeaseOutput>[];
  queue: Op<QueueInput, QueueOutput>[];
  publishes: Publish[];
  subscribers: Subscriber[];
  /** Watchers of the run's state keys (their writes, the publishes, are in `register` and `lease`). */
  watchers: Subscriber[];
  /** Operations by kind and node (`lease@http://…`): answered, indeterminate, and failed with no effect (not in the history). */
  counts: Record<string, { ok: number; unknown: number; failed: number }>;
  /** Why operations were not answered (indeterminate, or failed with no effect): "no answer", or a status and the start of its error. */
  why: Record<string, number>;
}

const KEYS = ['r0', 'r1', 'r2'];
const RESOURCES = ['l0', 'l1'];
/** The one machine-wide monotonic clock, ms. */
export const now = monoNow;

const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A request that had no effect: it never reached the server (the connection was refused). */
const REFUSED = 'refused' as const;
/** An edit denied because the server could not confirm its lease in time: answered, its effect unknown. */
const UNSURE = 'unsure' as const;
/** Statuses that say nothing was written (docs/api.md, "Retries"): the operation failed, it is not recorded — a later read that sees it is an anomaly. */
const NOT_WRITTEN = [500, 503, 507];

/** One request; null when no answer came in time (or the connection broke), REFUSED when it never left. */
function request(base: string, method: string, path: string, body: string | undefined, headers: Record<string, string>, timeoutMs: number): Promise<Reply | null | typeof REFUSED> {
  return new Promise((resolve) => {
    const req = http.request(`${base}${path}`, { method, agent, headers: { ...headers, ...(body !== undefined ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) } : {}) } }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (data += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: data }));
      res.on('error', () => resolve(null));
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error('timeout')));
    req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNREFUSED' ? REFUSED : null));
    req.end(body);
  });
}

const json = (r: Reply): Record<string, unknown> => {
  try {
    return JSON.parse(r.body) as Record<string, unknown>;
  } catch {
    return {};
  }
};
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(Math.random() * xs.length)]!;

async function main(plan: ClientPlan): Promise<void> {
  const h: History = { register: [], lease: [], queue: [], publishes: [], subscribers: [], watchers: [], counts: {}, why: {} };
  const PROJECT = plan.run;
  const until = now() + plan.durationMs;
  /** Records an operation: `run` answers its output, undefined when its outcome is unknown, REFUSED when it had none (not recorded). */
  async function op<I, O>(node: string, into: Op<I, O>[], client: string, input: I, run: () => Promise<O | undefined | typeof REFUSED | typeof UNSURE>, kind?: string): Promise<O | undefined> {
    const call = now();
    const output = await run();
    const c = (h.counts[`${kind ?? (into === h.register ? 'register' : into === h.lease ? 'lease' : 'queue')}@${node}`] ??= { ok: 0, unknown: 0, failed: 0 });
    if (output === UNSURE) {
      // A safe answer in time, whose effect is unknown: the guard may still take its auto-lease.
      into.push({ client, input, call, ret: Infinity });
      c.ok++;
      h.why['hook denied as not confirmed'] = (h.why['hook denied as not confirmed'] ?? 0) + 1;
      return undefined;
    }
    if (output === REFUSED) {
      c.failed++;
      // As a client backs off from a node that is down: a refused connection answers at once.
      await sleep(100);
      return undefined;
    }
    const ret = output === undefined ? Infinity : now();
    into.push({ client, input, call, ret, ...(output !== undefined ? { output } : {}) });
    if (output === undefined) c.unknown++;
    else c.ok++;
    return output;
  }
  const call = (base: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => request(base, method, path, body === undefined ? undefined : JSON.stringify(body), headers, plan.timeoutMs);
  /** Definite answers: 2xx and the 4xx a refusal is; anything else is indeterminate. */
  const definite = (r: Reply | null | typeof REFUSED, refusals: number[]): r is Reply => r !== null && r !== REFUSED && ((r.status >= 200 && r.status < 300) || refusals.includes(r.status));
  /** The answer to `r`: REFUSED (no effect) or `read(r)` when definite, else undefined (unknown). */
  const outcome = <O>(r: Reply | null | typeof REFUSED, refusals: number[], read: (r: Reply) => O): O | undefined | typeof REFUSED => {
    if (r === REFUSED) return REFUSED;
    if (r !== null && NOT_WRITTEN.includes(r.status)) {
      const why = `${r.status} ${r.body.slice(0, 80)}`;
      h.why[why] = (h.why[why] ?? 0) + 1;
      return REFUSED;
    }
    if (definite(r, refusals)) return read(r);
    const x = r as Reply | null;
    const why = x === null ? 'no answer' : `${x.status} ${x.body.slice(0, 80)}`;
    h.why[why] = (h.why[why] ?? 0) + 1;
    return undefined;
  };

  /** The agent's id, registered as `name` (tried until the run ends). */
  async function registered(base: string, name: string): Promise<string | null> {
    while (now() < until) {
      const r = await call(base, 'POST', '/api/instances/register', { name, workspace: PROJECT });
      if (definite(r, [])) return String(json(r).id);
      await sleep(200);
    }
    return null;
  }

  async function register(w: number, base: string): Promise<void> {
    const me = `${plan.run}-${plan.tag}-w${w}`;
    let n = 0;
    while (now() < until) {
      const key = pick(KEYS);
      const path = `/api/state/${PROJECT}/${key}`;
      const r = Math.random();
      if (r < 0.4) {
        let etag = '';
        const read = await op(base, h.register, me, { key, f: 'read' } as RegisterInput, async () =>
          outcome(await call(base, 'GET', path), [404], (x): RegisterOutput => {
            if (x.status === 404) return { value: null, version: 0 };
            etag = String(x.headers.etag ?? '');
            return { value: x.body, version: Number(x.headers['x-koor-version']) };
          }),
        );
        if (!read || !('value' in read) || read.value === null || Math.random() < 0.3) continue;
        const value = JSON.stringify(`${me}-${n++}`);
        // Half through If-Match, half as a transaction comparing the version.
        const txn = { compare: [{ key: `${PROJECT}/${key}`, version: read.version }], success: [{ op: 'put', key: `${PROJECT}/${key}`, value: JSON.parse(value) as string }] };
        await op(base, h.register, me, { key, f: 'cas', expect: read.version, value } as RegisterInput, async () =>
          Math.random() < 0.5
            ? outcome(await call(base, 'PUT', path, JSON.parse(value), { 'if-match': etag }), [412], (x): RegisterOutput => (x.status === 412 ? { ok: false } : { ok: true, version: Number(json(x).version), revision: Number(json(x).revision) }))
            : outcome(await call(base, 'POST', '/api/txn', txn), [], (x): RegisterOutput => {
                const r = json(x) as { succeeded?: boolean; revision?: number; results?: Array<{ version?: number }> };
                return r.succeeded ? { ok: true, version: Number(r.results?.[0]?.version), revision: Number(r.revision) } : { ok: false };
              }),
        );
      } else {
        const value = JSON.stringify(`${me}-${n++}`);
        await op(base, h.register, me, { key, f: 'write', value } as RegisterInput, async () => outcome(await call(base, 'PUT', path, JSON.parse(value)), [], (x): RegisterOutput => ({ version: Number(json(x).version), revision: Number(json(x).revision) })));
      }
    }
  }

  async function lease(w: number, base: string): Promise<void> {
    const name = `${plan.run}-${plan.tag}-l${w}`;
    const id = await registered(base, name);
    if (id === null) return;
    const headers = { 'x-koor-instance': id };
    /** A write of the resource's state key with X-Koor-Fence `fence`: accepted, or refused (409) as superseded. */
    const fencedWrite = (res: string, fence: number) =>
      op(base, h.lease, name, { res, f: 'fenced-write', owner: name, fence } as LeaseInput, async () =>
        outcome(await call(base, 'PUT', `/api/state/${res}`, `${name}@${fence}`, { ...headers, 'x-koor-fence': String(fence) }), [409], (x): LeaseOutput => (x.status < 300 ? { ok: true, revision: Number(json(x).revision) } : { ok: false })),
      );
    while (now() < until) {
      const res = `${PROJECT}/${pick(RESOURCES)}`;
      const body = { project: PROJECT, resources: [res], exclusive: true, ttl: `${Math.max(1, Math.round(plan.leaseTtlMs / 1000))}s`, reason: 'jepsen' };
      const got = await op(base, h.lease, name, { res, f: 'acquire', owner: name, ttlMs: plan.leaseTtlMs } as LeaseInput, async () =>
        outcome(await call(base, 'POST', '/api/leases', body, headers), [409], (x): LeaseOutput => {
          if (x.status === 409) return { ok: false };
          const l = json(x);
          return { ok: true, fence: Number(l.fence), lease: String(l.id) };
        }),
      );
      if (got && 'lease' in got) {
        await fencedWrite(res, got.fence);
        await sleep(Math.random() * 200);
        await op(base, h.lease, name, { res, f: 'release', owner: name, lease: got.lease } as LeaseInput, async () => outcome(await call(base, 'DELETE', `/api/leases/${got.lease}`, undefined, headers), [404, 409], (x): LeaseOutput => ({ ok: x.status < 300 })));
        // Written again once the lease is gone: accepted until a newer holder writes or holds it.
        if (Math.random() < 0.5) await fencedWrite(res, got.fence);
      } else await sleep(Math.random() * 50);
    }
  }

  async function queue(w: number, base: string, adder: boolean): Promise<void> {
    const name = `${plan.run}-${plan.tag}-q${w}`;
    const id = await registered(base, name);
    if (id === null) return;
    const headers = { 'x-koor-instance': id };
    let n = 0;
    while (now() < until) {
      if (adder) {
        const task = `${plan.run}-${plan.tag}-t${n++}`;
        await op(base, h.queue, name, { queue: PROJECT, f: 'add', task } as QueueInput, async () => outcome(await call(base, 'POST', '/api/tasks', { project: PROJECT, title: task }), [], (): QueueOutput => ({ ok: true })));
        await sleep(100 + Math.random() * 100);
        continue;
      }
      let claimedId = '';
      const got = await op(base, h.queue, name, { queue: PROJECT, f: 'claim', who: name } as QueueInput, async () =>
        outcome(await call(base, 'POST', '/api/tasks/claim', { project: PROJECT }, headers), [404], (x): QueueOutput => {
          if (x.status === 404) return { none: true };
          const t = json(x);
          claimedId = String(t.id);
          return { task: String(t.title) };
        }),
      );
      if (got && 'task' in got) {
        await op(base, h.queue, name, { queue: PROJECT, f: 'complete', task: got.task, who: name } as QueueInput, async () => outcome(await call(base, 'POST', `/api/tasks/${claimedId}/complete`, {}, headers), [404, 409], (x): QueueOutput => ({ ok: x.status < 300 })));
      } else await sleep(50 + Math.random() * 50);
    }
  }

  /**
   * A coding session's edit guard: bursts (0.5-8 s) of PreToolUse Write hooks on one of the lease workers'
   * resources, then a pause longer than the auto-lease's idle lifetime (so it expires). The guard
   * renews an auto-lease only once a tenth of its lifetime passed, so each allow is checked as
   * holding the file for nine tenths of it.
   */
  async function hook(w: number, base: string): Promise<void> {
    const name = `${plan.run}-${plan.tag}-k${w}`;
    const root = `/jepsen/${PROJECT}`;
    const headers = { 'x-koor-repo-root': root, 'x-koor-agent-name': name };
    const input = (event: string, extra: Record<string, unknown> = {}) => ({ session_id: name, hook_event_name: event, cwd: root, ...extra });
    while (now() < until && !definite(await call(base, 'POST', '/api/hooks/claude-code', input('UserPromptSubmit', { prompt: 'go' }), headers), [])) await sleep(200);
    while (now() < until) {
      const res = `${PROJECT}/${pick(RESOURCES)}`;
      for (let i = 5 + Math.floor(Math.random() * 35); i > 0 && now() < until; i--) {
        const edit = input('PreToolUse', { tool_name: 'Write', tool_input: { file_path: `${root}/${res}`, content: 'x' } });
        await op(base, h.lease, name, { res, f: 'guard', owner: name, ttlMs: plan.autoLeaseIdleMs * 0.9 } as LeaseInput, async () =>
          outcome(await call(base, 'POST', '/api/hooks/claude-code', edit, headers), [], (x): LeaseOutput | typeof UNSURE => {
            const o = json(x).hookSpecificOutput as { permissionDecision?: string; permissionDecisionReason?: string } | undefined;
            if (o?.permissionDecisionReason?.startsWith('Koor: could not confirm')) return UNSURE;
            return { ok: o?.permissionDecision !== 'deny' };
          }),
          'guard',
        );
        await sleep(100 + Math.random() * 200);
      }
      await sleep(plan.autoLeaseIdleMs + 500);
    }
  }

  const topic = `${plan.run}.s`;
  async function publish(w: number, base: string): Promise<void> {
    const name = `${plan.run}-${plan.tag}-p${w}`;
    const c = (h.counts[`stream@${base}`] ??= { ok: 0, unknown: 0, failed: 0 });
    let n = 0;
    while (now() < until) {
      const t0 = now();
      const r = await call(base, 'POST', '/api/events/publish', { topic, data: { n: n++ }, source: name });
      const out = outcome(r, [], (x) => Number(json(x).id));
      if (out === REFUSED) {
        c.failed++;
        await sleep(100);
        continue;
      }
      h.publishes.push(out === undefined ? { client: name, call: t0, ret: Infinity } : { client: name, call: t0, ret: now(), id: out });
      if (out === undefined) c.unknown++;
      else c.ok++;
      await sleep(20 + Math.random() * 30);
    }
  }

  /**
   * Subscribes until the run ends and a little after (to catch up), resuming from the last id
   * after every close: to the run's events, or (`watch`) to the changes of its state keys, whose
   * ids are revisions.
   */
  async function subscribe(w: number, base: string, watch: boolean): Promise<void> {
    const sessions: Session[] = [];
    (watch ? h.watchers : h.subscribers).push({ name: `${plan.run}-${plan.tag}-${watch ? 'w' : 's'}${w}`, sessions });
    const url = (since: number) => (watch ? `/api/state/watch?prefix=${encodeURIComponent(`${PROJECT}/`)}&since_revision=${since}` : `/api/events/subscribe?pattern=${encodeURIComponent(topic)}&since=${since}`);
    let last = 0;
    while (now() < until + 3000) {
      const since = last;
      const received: number[] = [];
      sessions.push({ resumeAfter: since, received });
      await new Promise<void>((resolve) => {
        const ws = new WebSocket(`${base.replace(/^http/, 'ws')}${url(since)}`, { handshakeTimeout: plan.timeoutMs });
        let answered = now();
        // Closed on purpose after a while (to resume), when a ping goes unanswered (a silent partition), and at the end.
        const endAt = Math.min(now() + 2000 + Math.random() * 3000, until + 3000);
        const timer = setInterval(() => {
          if (now() >= endAt || now() - answered > plan.timeoutMs) ws.terminate();
          else if (ws.readyState === WebSocket.OPEN) ws.ping();
        }, 500);
        ws.on('upgrade', (res) => {
          const oldest = Number(res.headers[watch ? 'x-koor-oldest-revision' : 'x-koor-oldest-event'] ?? 0);
          const why = 'a resume past the retained events or changes';
          if (oldest > since + 1) h.why[why] = (h.why[why] ?? 0) + 1;
        });
        ws.on('pong', () => (answered = now()));
        ws.on('message', (d) => {
          answered = now();
          const frame = JSON.parse(d.toString()) as { id?: number; revision?: number };
          const id = Number(watch ? frame.revision : frame.id);
          received.push(id);
          last = Math.max(last, id);
        });
        ws.on('error', () => {});
        ws.on('close', () => (clearInterval(timer), resolve()));
      });
      if (received.length === 0) await sleep(100);
    }
  }

  let adders = 0;
  await Promise.all(
    plan.workers.map((w, i) => {
      if (w.kind === 'register') return register(i, w.node);
      if (w.kind === 'lease') return lease(i, w.node);
      if (w.kind === 'publish') return publish(i, w.node);
      if (w.kind === 'hook') return hook(i, w.node);
      if (w.kind === 'subscribe') return subscribe(i, w.node, false);
      if (w.kind === 'watch') return subscribe(i, w.node, true);
      return queue(i, w.node, adders++ === 0);
    }),
  );
  fs.writeFileSync(plan.out, JSON.stringify(h, (_k, v: unknown) => (v === Infinity ? 'Infinity' : v)));
}

if (process.argv[2]) {
  main(JSON.parse(process.argv[2]) as ClientPlan).then(
    () => process.exit(0),
    (e: unknown) => {
      console.error(e);
      process.exit(1);
    },
  );
}
