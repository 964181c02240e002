/**
 * The invariants, checked once a phase's traffic has stopped and its streams have caught up:
 * against what the clients were acknowledged (Records), what the streams delivered (Stream and
 * the frames they collected) and what the server holds (read back through the API).
 */
import type { Conn } from './client.js';
import { read } from './client.js';
import { median } from '../lib/format.js';
import type { DiskSample, KoorNode, MemSample } from './nodes.js';
import type { Stream } from './streams.js';
import { PROJECT, type Records } from './traffic.js';
import type { Verdicts } from './verdicts.js';

/** Every invariant, in the order of the report. */
export const INVARIANTS = [
  'cas: no lost update',
  'cas: each acked write exactly once',
  '503 never committed',
  'no 5xx but 503/504',
  'events: no gap, duplicate or reorder',
  'events: each acked publish exactly once',
  'watch: no gap, duplicate or reorder',
  'inbox: no gap, duplicate or reorder',
  'messages: each acked send exactly once',
  'tasks: each acked create exactly once',
  'tasks: no task claimed twice',
  'tasks: none lost or left',
  'leases: one holder at a time',
  'hooks: one session per file at a time',
  'servers stay up',
  'memory flat',
  'disk flat',
] as const;

/** A watch frame as the checks keep it (with `values=1`: the CAS value's op and n). */
export interface WatchFrame {
  type: string;
  key: string;
  version: number;
  revision: number;
  op: string | null;
  n: number | null;
}

/** What the streams delivered, pooled over every stream of a kind. */
export class Delivered {
  /** Event frames by the publish's op key: the ids that carried it. */
  readonly events = new Map<string, Set<number>>();
  /** Inbox frames by the send's op key: the message ids that carried it. */
  readonly messages = new Map<string, Set<number>>();
  /** Watch frames by revision (the first watcher's; the others must agree). */
  readonly changes = new Map<number, WatchFrame>();
  disagreements: string[] = [];

  event(f: { id: number; data?: { op?: string } }): void {
    const k = f.data?.op;
    if (typeof k === 'string') add(this.events, k, f.id);
  }

  message(f: { id: number; body?: string }): void {
    const k = typeof f.body === 'string' ? f.body.split(' ', 1)[0]! : '';
    if (k !== '') add(this.messages, k, f.id);
  }

  change(f: { type: string; key: string; version: number; revision: number; value?: { op?: string; n?: number } }): void {
    const w: WatchFrame = { type: f.type, key: f.key, version: f.version, revision: f.revision, op: f.value?.op ?? null, n: f.value?.n ?? null };
    const had = this.changes.get(w.revision);
    // A frame without a value (its version pruned before it was sent) agrees with one that has it.
    if (!had || (had.op === null && w.op !== null)) this.changes.set(w.revision, w);
    if (had && (had.key !== w.key || had.version !== w.version || (had.op !== null && w.op !== null && had.op !== w.op))) this.disagreements.push(`revision ${w.revision}: ${JSON.stringify(had)} vs ${JSON.stringify(w)}`);
  }
}

function add(m: Map<string, Set<number>>, k: string, id: number): void {
  let s = m.get(k);
  if (!s) m.set(k, (s = new Set()));
  s.add(id);
}

/** Duplicates and reorders each stream saw, and acknowledged ids it never received. */
function streamOrder(v: Verdicts, name: string, streams: Stream[], expected: (s: Stream) => number[]): { excused: number } {
  let excused = 0;
  for (const s of streams) {
    for (const d of s.duplicates) v.fail(name, `${s.spec.name}: id ${d} received twice`);
    for (const [id, last] of s.reordered) v.fail(name, `${s.spec.name}: id ${id} after ${last}`);
    v.failMany(name, s.malformed, `${s.spec.name}: ${s.malformed} frame(s) that were not JSON`);
    v.checked(name, s.frames);
    let missing = 0;
    let first = -1;
    for (const id of expected(s)) {
      v.checked(name);
      if (s.seen.has(id)) continue;
      if (s.isExcused(id)) {
        excused++;
        continue;
      }
      missing++;
      if (first < 0) first = id;
    }
    v.failMany(name, missing, `${s.spec.name}: ${missing} acknowledged id(s) never delivered (first ${first}; last received ${s.last}; ${s.connects} connections)`);
  }
  return { excused };
}

export function checkStreams(v: Verdicts, rec: Records, got: Delivered, subscribers: Stream[], watchers: Stream[], inboxes: Map<string, Stream>): { excused: Record<string, number> } {
  const published = [...rec.published.values()];
  const e = streamOrder(v, 'events: no gap, duplicate or reorder', subscribers, () => published);
  const revisions = rec.casAcked.map((w) => w.revision);
  const w = streamOrder(v, 'watch: no gap, duplicate or reorder', watchers, () => revisions);
  for (const d of got.disagreements) v.fail('watch: no gap, duplicate or reorder', `watchers disagree: ${d}`);
  const byStream = new Map([...inboxes].map(([agent, s]) => [s, agent]));
  const i = streamOrder(v, 'inbox: no gap, duplicate or reorder', [...inboxes.values()], (s) => rec.messagesTo.get(byStream.get(s)!) ?? []);

  // Exactly once: one event per acknowledged publish, and it is the id the publisher was given.
  for (const [key, id] of rec.published) {
    const ids = got.events.get(key);
    v.check('events: each acked publish exactly once', ids === undefined || (ids.size === 1 && ids.has(id)), () => `${key}: acknowledged as event ${id}, delivered as ${[...(ids ?? [])].join(', ')}`);
  }
  for (const [key, ids] of got.events) if (!rec.published.has(key) && ids.size > 1) v.fail('events: each acked publish exactly once', `${key} (outcome unknown to its publisher) stored ${ids.size} times: ${[...ids].join(', ')}`);
  for (const [key, id] of rec.messageOps) {
    const ids = got.messages.get(key);
    v.check('messages: each acked send exactly once', ids === undefined || (ids.size === 1 && ids.has(id)), () => `${key}: acknowledged as message ${id}, delivered as ${[...(ids ?? [])].join(', ')}`);
  }
  for (const [key, ids] of got.messages) if (!rec.messageOps.has(key) && ids.size > 1) v.fail('messages: each acked send exactly once', `${key} (outcome unknown to its sender) stored ${ids.size} times: ${[...ids].join(', ')}`);
  return { excused: { events: e.excused, watch: w.excused, inbox: i.excused } };
}

/** CAS: the change log as the watchers saw it against what the writers were acknowledged, then the keys read back. */
export async function checkCas(v: Verdicts, rec: Records, got: Delivered, c: Conn, keys: string[]): Promise<{ unverified: number }> {
  const A = 'cas: each acked write exactly once';
  const L = 'cas: no lost update';
  const byOp = new Map<string, WatchFrame[]>();
  const byKey = new Map<string, WatchFrame[]>();
  for (const f of got.changes.values()) {
    if (f.op !== null) {
      let a = byOp.get(f.op);
      if (!a) byOp.set(f.op, (a = []));
      a.push(f);
    }
    let k = byKey.get(f.key);
    if (!k) byKey.set(f.key, (k = []));
    k.push(f);
  }
  // A change sent after its version was pruned (--state-history-keep) carries no value: its op
  // cannot be verified, only its key and version.
  let unverified = 0;
  for (const w of rec.casAcked) {
    const f = got.changes.get(w.revision);
    if (f !== undefined && f.op === null) unverified++;
    v.check(A, f === undefined || (f.key === w.key && f.version === w.version && (f.op === null || f.op === w.op)), () => `${w.op}: acknowledged as ${w.key} v${w.version} rev ${w.revision}, the log says ${JSON.stringify(f)}`);
  }
  for (const [id, fs] of byOp) v.check(A, fs.length === 1, () => `${id} stored ${fs.length} times: revisions ${fs.map((f) => f.revision).join(', ')}`);
  for (const id of rec.cas503) v.check('503 never committed', !byOp.has(id), () => `CAS ${id} was answered 503, yet it is in the change log: ${JSON.stringify(byOp.get(id))}`);
  for (const [key, fs] of byKey) {
    fs.sort((a, b) => a.revision - b.revision);
    for (let i = 0; i < fs.length; i++) {
      const f = fs[i]!;
      v.check(L, f.type !== 'put' || f.n === null || f.n === f.version, () => `${key} v${f.version} (rev ${f.revision}) holds n=${f.n}: a write was lost or applied over a stale value`);
      if (i > 0) v.check(A, f.version === fs[i - 1]!.version + 1, () => `${key}: v${fs[i - 1]!.version} then v${f.version} in the change log`);
    }
  }
  // What the server holds now: the value's n is its version, and the newest change the watchers saw.
  for (const key of keys) {
    const r = await read(c, `/api/state/${key}`);
    if (!r || r.status !== 200) {
      v.check(A, !rec.casAcked.some((w) => w.key === key), () => `${key}: read back ${r?.status ?? 'no reply'} after acknowledged writes`);
      continue;
    }
    const version = Number(r.headers['x-koor-version']);
    const n = (JSON.parse(r.text) as { n: number }).n;
    v.check(L, n === version, () => `${key}: holds n=${n} at version ${version}`);
    const newest = byKey.get(key)?.at(-1);
    v.check(A, newest === undefined || newest.version === version, () => `${key}: at version ${version}, the watchers' newest change is v${newest!.version}`);
  }
  return { unverified };
}

interface TaskRow {
  id: number;
  title: string;
  status: string;
  claimed_by: string;
}

/** Tasks: every acknowledged create there once, every claim of a task its only one, nothing lost or left. */
export async function checkTasks(v: Verdicts, rec: Records, c: Conn, drained: boolean): Promise<{ tasks: number; by_status: Record<string, number> }> {
  const rows: TaskRow[] = [];
  for (let after = 0; ; ) {
    const r = await read(c, `/api/tasks?project=${PROJECT}&limit=10000&after=${after}`);
    if (!r || r.status !== 200) {
      v.fail('tasks: none lost or left', `listing the tasks failed: ${r?.status ?? 'no reply'}`);
      break;
    }
    const page = JSON.parse(r.text) as TaskRow[];
    rows.push(...page);
    if (page.length < 10000) break;
    after = page.at(-1)!.id;
  }
  const byTitle = new Map<string, TaskRow[]>();
  const byStatus: Record<string, number> = {};
  for (const t of rows) {
    let a = byTitle.get(t.title);
    if (!a) byTitle.set(t.title, (a = []));
    a.push(t);
    byStatus[t.status] = (byStatus[t.status] ?? 0) + 1;
  }
  const C = 'tasks: each acked create exactly once';
  for (const [title, cr] of rec.creates) {
    const n = byTitle.get(title)?.length ?? 0;
    if (cr.outcome === 'acked') v.check(C, n === 1, () => `${title}: acknowledged (attempts ${cr.attempts.join(',')}), stored ${n} times`);
    else if (cr.outcome === 'refused') v.check(C, n === 0, () => `${title}: refused ${cr.attempts.at(-1)}, yet stored ${n} times`);
    else v.check(C, n <= 1, () => `${title}: outcome unknown (attempts ${cr.attempts.join(',')}), stored ${n} times`);
  }
  for (const title of byTitle.keys()) if (!rec.creates.has(title)) v.fail(C, `${title}: stored, but no client created it`);

  const claimsOf = new Map<number, typeof rec.claims>();
  for (const cl of rec.claims) {
    let a = claimsOf.get(cl.task);
    if (!a) claimsOf.set(cl.task, (a = []));
    a.push(cl);
  }
  for (const [task, cls] of claimsOf) v.check('tasks: no task claimed twice', cls.length === 1, () => `task ${task} handed to ${cls.length} claims: ${cls.map((x) => `${x.key} (attempts ${x.attempts.join(',')})`).join('; ')}`);

  const L = 'tasks: none lost or left';
  if (!drained) v.fail(L, 'the claimers did not drain the queue before the phase ended (no 404 after the creators finished)');
  for (const t of rows) {
    if (t.status === 'done') {
      v.check(L, claimsOf.has(t.id), () => `task ${t.id} (${t.title}) is done but no claim of it was acknowledged`);
    } else if (t.status === 'claimed') {
      const known = claimsOf.has(t.id);
      v.check(L, false, () =>
        known
          ? `task ${t.id} (${t.title}): claimed, its completion never confirmed (attempts ${rec.completeUnsure.get(t.id)?.join(',') ?? '?'})`
          : `task ${t.id} (${t.title}) is claimed by ${t.claimed_by}, but no claim reply ever named it: a claim whose reply was lost, retried (that agent's retried claims: ${retriedClaims(rec, t.claimed_by)})`,
      );
    } else if (drained) {
      v.check(L, false, () => `task ${t.id} (${t.title}) left ${t.status} after the queue was drained`);
    }
  }
  return { tasks: rows.length, by_status: byStatus };
}

/** An agent's acknowledged claims that took more than one attempt, with their attempts. */
function retriedClaims(rec: Records, agent: string): string {
  const r = rec.claims.filter((c) => c.agent === agent && c.attempts.length > 1).map((c) => `task ${c.task} after ${c.attempts.join(',')}`);
  const unknown = rec.claimUnknown.length;
  return `${r.length === 0 ? 'none' : r.slice(0, 4).join('; ')}${unknown > 0 ? `; ${unknown} claims of all agents never answered` : ''}`;
}

export function checkHolds(v: Verdicts, rec: Records, endAt: number): void {
  rec.leaseHolds.closeAll(endAt);
  rec.hookHolds.closeAll(endAt);
  rec.leaseHolds.check((ok, d) => v.check('leases: one holder at a time', ok, d));
  rec.hookHolds.check((ok, d) => v.check('hooks: one session per file at a time', ok, d));
}

export function checkNodes(v: Verdicts, nodes: KoorNode[]): void {
  for (const n of nodes) {
    v.checked('servers stay up');
    for (const e of n.unexpectedExits) v.fail('servers stay up', e);
  }
}

/**
 * Memory: anonymous RSS (heap and other private memory; the data file's mapped pages are
 * excluded, they are the kernel's cache) per node, what the process retains at the end of the
 * steady window against its start, each measured right after a full collection (KoorNode.retained).
 * More than MEM_GROWTH_FRACTION plus MEM_GROWTH_SLACK_BYTES is growth. The medians of the
 * window's first and last thirds are figures beside it; they were the check before, and they take
 * garbage for growth: V8 lets its old generation fill with garbage for tens of seconds between
 * full collections (90-110 MiB in the quick soak's 20-s window, gone at the next one). Without a
 * retained measurement (no inspector), the medians decide.
 */
const MEM_GROWTH_FRACTION = 0.25;
const MEM_GROWTH_SLACK_BYTES = 24 * 2 ** 20;
/**
 * Disk: over the steady window the data (data.db; the PostgreSQL database) may grow with what the
 * traffic legitimately keeps until each bound is reached (tasks for good, idempotency replies
 * for 24 h, messages for --message-retention, events and versions up to their counts): at most
 * DISK_PAYLOAD_FACTOR times the bytes of the acknowledged writes' bodies (a published event or a
 * message is stored once and again in its idempotency reply) plus DISK_BYTES_PER_WRITE per write
 * (rows, indexes, audit). And the WAL must stay bounded: checkpointed at 8 MiB, inline past 4×,
 * so WAL_MAX_BYTES is well past both.
 */
const DISK_PAYLOAD_FACTOR = 3;
const DISK_BYTES_PER_WRITE = 1024;
const WAL_MAX_BYTES = 64 * 2 ** 20;

const mib = (b: number) => (b / 2 ** 20).toFixed(1);

type Mem = { rss: number; anon: number };

export function checkResources(v: Verdicts, mem: MemSample[], disk: DiskSample[], from: number, to: number, nodes: number, retained?: { start: Array<Mem | null>; end: Array<Mem | null> }): Record<string, unknown> {
  const out: Record<string, unknown> = { window_s: [Math.round(from), Math.round(to)] };
  const third = (to - from) / 3;
  const memFig: string[] = [];
  const perNode: Array<Record<string, number>> = [];
  for (let n = 0; n < nodes; n++) {
    const s = mem.filter((m) => m.node === n && m.t >= from && m.t <= to);
    const a = s.filter((m) => m.t < from + third);
    const b = s.filter((m) => m.t >= to - third);
    if (a.length === 0 || b.length === 0) continue;
    const anon0 = median(a.map((m) => m.anon));
    const anon1 = median(b.map((m) => m.anon));
    const rss0 = median(a.map((m) => m.rss));
    const rss1 = median(b.map((m) => m.rss));
    const peak = Math.max(...mem.filter((m) => m.node === n).map((m) => m.rss));
    const kept0 = retained?.start[n] ?? null;
    const kept1 = retained?.end[n] ?? null;
    const kept = kept0 !== null && kept1 !== null;
    perNode.push({ node: n, anon_start_mib: Number(mib(anon0)), anon_end_mib: Number(mib(anon1)), rss_start_mib: Number(mib(rss0)), rss_end_mib: Number(mib(rss1)), rss_peak_mib: Number(mib(peak)), ...(kept ? { retained_anon_start_mib: Number(mib(kept0.anon)), retained_anon_end_mib: Number(mib(kept1.anon)) } : {}) });
    memFig.push(`${nodes > 1 ? `node ${n}: ` : ''}${kept ? `retained anon ${mib(kept0.anon)}→${mib(kept1.anon)} MiB; ` : ''}anon ${mib(anon0)}→${mib(anon1)} MiB, rss ${mib(rss0)}→${mib(rss1)} MiB (peak ${mib(peak)})`);
    const [a0, a1, what] = kept ? [kept0.anon, kept1.anon, 'retained anonymous RSS (after a full collection)'] : [anon0, anon1, 'anonymous RSS (window medians)'];
    v.check('memory flat', a1 <= a0 * (1 + MEM_GROWTH_FRACTION) + MEM_GROWTH_SLACK_BYTES, () => `node ${n}: ${what} ${mib(a0)} → ${mib(a1)} MiB over the steady window ${from.toFixed(0)}–${to.toFixed(0)} s`);
  }
  if (memFig.length === 0) v.fail('memory flat', 'no memory samples in the steady window');
  v.figure('memory flat', memFig.join('; '));
  out.memory = perNode;

  const d = disk.filter((x) => x.t >= from && x.t <= to);
  const walMax = Math.max(0, ...disk.map((x) => x.wal));
  v.check('disk flat', walMax <= WAL_MAX_BYTES, () => `the WAL reached ${mib(walMax)} MiB`);
  if (d.length >= 2) {
    const first = d[0]!;
    const last = d.at(-1)!;
    const grown = last.bytes - first.bytes;
    const writes = last.writes - first.writes;
    const payload = last.payload - first.payload;
    const allowed = DISK_PAYLOAD_FACTOR * payload + DISK_BYTES_PER_WRITE * writes;
    const perMin = (grown / Math.max(1, last.t - first.t)) * 60;
    v.check('disk flat', grown <= allowed, () => `data grew ${mib(grown)} MiB in ${from.toFixed(0)}–${to.toFixed(0)} s, more than the ${mib(allowed)} MiB its ${writes} writes (${mib(payload)} MiB of bodies) explain`);
    v.figure('disk flat', `${mib(first.bytes)}→${mib(last.bytes)} MiB (${mib(perMin)} MiB/min; ${mib(payload)} MiB of bodies written), WAL peak ${mib(walMax)} MiB`);
    out.disk = { start_mib: Number(mib(first.bytes)), end_mib: Number(mib(last.bytes)), mib_per_min: Number(mib(perMin)), writes, payload_mib: Number(mib(payload)), allowed_mib: Number(mib(allowed)), wal_peak_mib: Number(mib(walMax)) };
  } else v.fail('disk flat', 'no disk samples in the steady window');
  // The whole phase, one sample a second: [s, MiB] per series (for a look at the shape).
  const r1 = (x: number) => Math.round(x * 10) / 10;
  out.series = {
    rss_mib: Array.from({ length: nodes }, (_, n) => mem.filter((m) => m.node === n).map((m) => [r1(m.t), r1(m.rss / 2 ** 20)])),
    anon_mib: Array.from({ length: nodes }, (_, n) => mem.filter((m) => m.node === n).map((m) => [r1(m.t), r1(m.anon / 2 ** 20)])),
    data_mib: disk.map((x) => [r1(x.t), r1(x.bytes / 2 ** 20)]),
  };
  return out;
}
