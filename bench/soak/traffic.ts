/**
 * The soak's client loops, one kind of traffic each, all at once against the same server(s).
 * Every loop is bounded by the phase's clock (Phase.running/retrying) and records what the
 * server acknowledged, so the checks (checks.ts) can hold the server to it afterwards.
 *
 *   cas        read a shared counter key, PUT n+1 with If-Match (several writers per key)
 *   publish    POST /api/events/publish with an Idempotency-Key, one topic per publisher
 *   tasks      creators POST /api/tasks with unique titles; claimers claim, lease a file from a
 *              small shared pool, complete with the claim's fence, release the lease
 *   messages   agents POST /api/messages to each other (Idempotency-Key); each reads a push stream
 *   hooks      Claude Code sessions: UserPromptSubmit, edits of shared files (PreToolUse, then
 *              PostToolUse when allowed), SessionEnd — the server auto-leases a file to its first editor
 *
 * Streams (events, watches, inboxes) live in streams.ts; the loops here only write and read.
 */
import { performance } from 'node:perf_hooks';
import { sleep } from '../lib/async.js';
import { Conn, op, read, type Outcome, type Phase } from './client.js';
import { Holds } from './holds.js';

export const CAS_PREFIX = 'soak/cas/';
export const PROJECT = 'soak';
/** The repository root of every hook session (X-Koor-Repo-Root and the hook input's cwd). */
const HOOK_ROOT = '/soak/repo';
/** A lease taken by a claimer expires after this (a holder that lost its release cannot block the file for long). */
const LEASE_TTL_S = 30;
/**
 * Creators wait while this many acknowledged tasks are not yet claimed: a claimer writes four
 * times per task (claim, lease, complete, release), and an unbounded backlog could not be drained
 * before the phase ends.
 */
const TASK_BACKLOG_MAX = 200;

/** How much of each kind runs at once, and how long each loop rests between operations. */
export interface Shape {
  casKeys: number;
  casWriters: number;
  publishers: number;
  subscribers: number;
  watchers: number;
  taskCreators: number;
  claimers: number;
  leaseFiles: number;
  inboxAgents: number;
  hookSessions: number;
  hookFiles: number;
  /** Rest between operations of a loop, ms, by kind. */
  thinkMs: { cas: number; publish: number; create: number; claim: number; message: number; hook: number };
  /**
   * Bytes of padding in each CAS value, event and message. The streams' slow readers must fall far
   * enough behind that the server sees backpressure: loopback's socket buffers take one to two
   * megabytes of a reader that stopped before it does. So the values and events are a few KB, one
   * more CAS writer writes a large value to a key of its own (`bulk`: its history is bounded by
   * --state-history-keep, so it costs no growing disk), the slow subscriber also takes the
   * server's own events, and the messages to the slow inbox (agent 0) are large.
   */
  padBytes: { cas: number; bulkCas: number; event: number; message: number; slowMessage: number };
}

export const SHAPE: Shape = {
  casKeys: 4,
  casWriters: 12,
  publishers: 4,
  subscribers: 3,
  watchers: 2,
  // Creates are the writes a retry without the Idempotency-Key fix would duplicate: enough of them
  // in flight that a kill -9 usually catches some between commit and reply.
  taskCreators: 4,
  claimers: 6,
  leaseFiles: 8,
  inboxAgents: 4,
  hookSessions: 6,
  hookFiles: 4,
  thinkMs: { cas: 5, publish: 5, create: 20, claim: 0, message: 10, hook: 10 },
  padBytes: { cas: 3072, bulkCas: 32_768, event: 3072, message: 256, slowMessage: 32_768 },
};

export interface CasWrite {
  key: string;
  op: string;
  n: number;
  version: number;
  revision: number;
}

/** Everything the clients were told, for the checks. */
export class Records {
  readonly pad: { cas: string; bulkCas: string; event: string; message: string; slowMessage: string };
  /** CAS: acknowledged writes; ops answered 503 (certainly not committed); ops whose outcome is unknown. */
  readonly casAcked: CasWrite[] = [];
  readonly cas503 = new Set<string>();
  readonly casUnknown = new Set<string>();
  /** Publishes: op key → event id (acknowledged). */
  readonly published = new Map<string, number>();
  readonly publishUnknown = new Set<string>();
  /** Messages: acknowledged ones by recipient (agent id → ids); op keys of unknown outcome. */
  readonly messagesTo = new Map<string, number[]>();
  readonly messageOps = new Map<string, number>();
  readonly messageUnknown = new Set<string>();
  /** Task creates by title: the outcome and its attempts. */
  readonly creates = new Map<string, { outcome: Outcome['outcome']; id: number | null; attempts: number[] }>();
  /** Acknowledged claims. */
  readonly claims: Array<{ key: string; task: number; agent: string; fence: number; attempts: number[] }> = [];
  readonly claimUnknown: Array<{ key: string; attempts: number[] }> = [];
  readonly completed = new Map<number, number[]>();
  readonly completeUnsure = new Map<number, number[]>();
  tasksAcked = 0;
  creatorsDone = 0;
  /** Exclusive holds: claimers' leases and hook sessions' auto-leases (separate file pools). */
  readonly leaseHolds = new Holds();
  readonly hookHolds = new Holds();
  readonly hooks = { sessions: 0, allowed: 0, denied: 0, ended: 0 };
  readonly leases = { acquired: 0, conflicts: 0 };

  constructor(
    /** Tags this run's idempotency keys, titles and session ids. */
    readonly tag: string,
    shape: Shape,
  ) {
    const p = shape.padBytes;
    this.pad = { cas: 'x'.repeat(p.cas), bulkCas: 'x'.repeat(p.bulkCas), event: 'x'.repeat(p.event), message: 'x'.repeat(p.message), slowMessage: 'x'.repeat(p.slowMessage) };
  }
}

const rand = (n: number) => Math.floor(Math.random() * n);
const json = 'application/json';

// ---------------------------------------------------------------------------------------------

/** Registers an agent (with an Idempotency-Key: a retry must not make a second one); its id. */
export async function register(phase: Phase, name: string, workspace: string, key: string): Promise<string> {
  const c = new Conn(phase, 'setup', 0);
  const r = await op(c, 'POST', '/api/instances/register', { name, workspace }, { 'idempotency-key': key });
  if (r.outcome !== 'acked') throw new Error(`register ${name}: ${r.status} ${r.text.slice(0, 200)}`);
  return (r.body as { id: string }).id;
}

/** The CAS keys: `casKeys` shared by the writers, and `bulk`, written by one more writer with a large value. */
export const casKeys = (shape: Shape): string[] => [...Array.from({ length: shape.casKeys }, (_, k) => `${CAS_PREFIX}${k}`), `${CAS_PREFIX}bulk`];

/** Writer `i` (i = casWriters: the bulk key's writer). */
export async function casWriter(phase: Phase, rec: Records, shape: Shape, i: number): Promise<void> {
  const c = new Conn(phase, 'cas', i);
  const bulk = i >= shape.casWriters;
  const key = bulk ? `${CAS_PREFIX}bulk` : `${CAS_PREFIX}${i % shape.casKeys}`;
  for (let seq = 1; phase.running(); seq++) {
    const cur = await read(c, `/api/state/${key}`);
    if (!cur) return;
    let n = 1;
    const headers: Record<string, string> = { 'content-type': json };
    if (cur.status === 404) headers['if-none-match'] = '*';
    else {
      n = (JSON.parse(cur.text) as { n: number }).n + 1;
      headers['if-match'] = String(cur.headers.etag);
    }
    const id = `${rec.tag}-c${i}-${seq}`;
    const r = await op(c, 'PUT', `/api/state/${key}`, { n, op: id, pad: bulk ? rec.pad.bulkCas : rec.pad.cas }, headers, { retry: false });
    if (r.outcome === 'acked') {
      const b = r.body as { version: number; revision: number };
      rec.casAcked.push({ key, op: id, n, version: b.version, revision: b.revision });
      phase.verdicts.check('cas: no lost update', b.version === n, () => `${key}: wrote n=${n} over the value read, acknowledged as version ${b.version}`);
    } else if (r.outcome === 'unknown') {
      if (r.status === 503) rec.cas503.add(id);
      else rec.casUnknown.add(id);
    }
    await sleep(shape.thinkMs.cas);
  }
}

export async function publisher(phase: Phase, rec: Records, shape: Shape, i: number): Promise<void> {
  const c = new Conn(phase, 'publish', i);
  for (let seq = 1; phase.running(); seq++) {
    const key = `${rec.tag}-p${i}-${seq}`;
    const r = await op(c, 'POST', '/api/events/publish', { topic: `soak.pub.${i}`, data: { op: key, pad: rec.pad.event } }, { 'idempotency-key': key });
    if (r.outcome === 'acked') rec.published.set(key, (r.body as { id: number }).id);
    else if (r.outcome === 'unknown') rec.publishUnknown.add(key);
    await sleep(shape.thinkMs.publish);
  }
}

export async function taskCreator(phase: Phase, rec: Records, shape: Shape, i: number): Promise<void> {
  const c = new Conn(phase, 'task create', i);
  try {
    for (let seq = 1; phase.running(); seq++) {
      while (rec.tasksAcked - rec.claims.length > TASK_BACKLOG_MAX && phase.running()) await sleep(20);
      const title = `${rec.tag}-t${i}-${seq}`;
      const r = await op(c, 'POST', '/api/tasks', { project: PROJECT, title, data: { by: i } }, { 'idempotency-key': title });
      rec.creates.set(title, { outcome: r.outcome, id: r.outcome === 'acked' ? (r.body as { id: number }).id : null, attempts: r.attempts });
      if (r.outcome === 'acked') rec.tasksAcked++;
      await sleep(shape.thinkMs.create);
    }
  } finally {
    rec.creatorsDone++;
  }
}

/**
 * Claims until the creators are done and nothing is left (a 404 after they finished), within
 * the phase's hard stop: the queue is drained, so every created task can be checked settled.
 * True when it ended that way (false: the hard stop came first).
 */
export async function claimer(phase: Phase, rec: Records, shape: Shape, i: number, agent: string): Promise<boolean> {
  const c = new Conn(phase, 'task claim', i);
  const lc = new Conn(phase, 'lease', i);
  const who = { 'x-koor-instance': agent };
  for (let seq = 1; phase.retrying(); seq++) {
    const done = rec.creatorsDone === shape.taskCreators;
    const key = `${rec.tag}-cl${i}-${seq}`;
    const r = await op(c, 'POST', '/api/tasks/claim', { project: PROJECT }, { ...who, 'idempotency-key': key });
    if (r.outcome === 'unknown') {
      rec.claimUnknown.push({ key, attempts: r.attempts });
      continue;
    }
    if (r.outcome === 'refused') {
      if (r.status === 404 && done) return true;
      await sleep(r.status === 404 ? 20 : 200);
      continue;
    }
    const task = r.body as { id: number; fence: number };
    rec.claims.push({ key, task: task.id, agent, fence: task.fence, attempts: r.attempts });

    // A lease on one file of the shared pool (another claimer may hold it: try up to three).
    let lease: { id: string; file: string } | null = null;
    for (let t = 0; t < 3 && lease === null && phase.retrying(); t++) {
      const file = `work/f${rand(shape.leaseFiles)}.ts`;
      const l = await op(lc, 'POST', '/api/leases', { resources: [file], ttl: `${LEASE_TTL_S}s`, reason: `task ${task.id}` }, { ...who, 'idempotency-key': `${key}-l${t}` });
      if (l.outcome === 'acked') {
        rec.leases.acquired++;
        lease = { id: (l.body as { id: string }).id, file };
        rec.leaseHolds.grant(file, agent, l.sentAt, l.doneAt, LEASE_TTL_S * 1000);
      } else if (l.outcome === 'refused' && l.status === 409) rec.leases.conflicts++;
    }
    await sleep(2 + rand(8));
    const d = await op(c, 'POST', `/api/tasks/${task.id}/complete`, { fence: task.fence }, { ...who, 'idempotency-key': `${key}-done` });
    if (d.outcome === 'acked') rec.completed.set(task.id, d.attempts);
    else rec.completeUnsure.set(task.id, d.attempts);
    if (lease) {
      const sent = performance.now();
      rec.leaseHolds.release(lease.file, agent, sent);
      await op(lc, 'DELETE', `/api/leases/${lease.id}`, undefined, who);
    }
    await sleep(shape.thinkMs.claim);
  }
  return false;
}

export async function messenger(phase: Phase, rec: Records, shape: Shape, i: number, agents: string[]): Promise<void> {
  const c = new Conn(phase, 'message', i);
  for (let seq = 1; phase.running(); seq++) {
    // Half of what the others send goes to agent 0, the slow reader: its backlog must outgrow the
    // socket's buffers while it is paused.
    const to = i !== 0 && rand(2) === 0 ? agents[0]! : agents[(i + 1 + rand(agents.length - 1)) % agents.length]!;
    const key = `${rec.tag}-m${i}-${seq}`;
    const r = await op(c, 'POST', '/api/messages', { to: [to], subject: 'soak', body: `${key} ${to === agents[0] ? rec.pad.slowMessage : rec.pad.message}` }, { 'x-koor-instance': agents[i]!, 'idempotency-key': key });
    if (r.outcome === 'acked') {
      const id = (r.body as { id: number }).id;
      rec.messageOps.set(key, id);
      let a = rec.messagesTo.get(to);
      if (!a) rec.messagesTo.set(to, (a = []));
      a.push(id);
    } else if (r.outcome === 'unknown') rec.messageUnknown.add(key);
    await sleep(shape.thinkMs.message);
  }
}

/** One Claude Code session after another: bind, edit shared files (allowed or denied), end. */
export async function hookSessions(phase: Phase, rec: Records, shape: Shape, i: number): Promise<void> {
  const c = new Conn(phase, 'hook', i);
  for (let n = 1; phase.running(); n++) {
    const sid = `${rec.tag}-h${i}-s${n}`;
    const headers = { 'x-koor-agent-name': `soak-h${i}-${n}`, 'x-koor-repo-root': HOOK_ROOT };
    const hook = (input: Record<string, unknown>) => op(c, 'POST', '/api/hooks/claude-code', { session_id: sid, cwd: HOOK_ROOT, ...input }, headers);
    rec.hooks.sessions++;
    await hook({ hook_event_name: 'UserPromptSubmit', prompt: 'soak' });
    const held = new Set<string>();
    const edits = 2 + rand(3);
    for (let e = 0; e < edits && phase.running(); e++) {
      const file = `src/shared-${rand(shape.hookFiles)}.ts`;
      const toolInput = { file_path: `${HOOK_ROOT}/${file}`, old_string: 'a', new_string: 'b' };
      const r = await hook({ hook_event_name: 'PreToolUse', tool_name: 'Edit', tool_input: toolInput });
      if (r.outcome !== 'acked') continue;
      const decision = (r.body as { hookSpecificOutput?: { permissionDecision?: string } } | null)?.hookSpecificOutput?.permissionDecision;
      if (decision === 'deny') {
        rec.hooks.denied++;
        await sleep(shape.thinkMs.hook);
        continue;
      }
      rec.hooks.allowed++;
      rec.hookHolds.grant(file, sid, r.sentAt, r.doneAt);
      held.add(file);
      await sleep(shape.thinkMs.hook + rand(20));
      await hook({ hook_event_name: 'PostToolUse', tool_name: 'Edit', tool_input: toolInput, tool_response: { filePath: toolInput.file_path, success: true } });
    }
    const sent = performance.now();
    for (const f of held) rec.hookHolds.release(f, sid, sent);
    const end = await hook({ hook_event_name: 'SessionEnd', reason: 'other' });
    if (end.outcome === 'acked') rec.hooks.ended++;
  }
}
