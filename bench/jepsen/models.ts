/**
 * Sequential specifications of Koor's coordination primitives for the checker in checker.ts, and
 * two plain registers its published example histories are written against. An indeterminate
 * operation's "no effect" outcome is never listed: the checker may leave it out of the order.
 */

import { indeterminate, type Model, type Op } from './checker.js';

/** What an operation answered, or undefined when it is indeterminate. */
function answer<I, O>(op: Op<I, O>): O | undefined {
  return indeterminate(op as Op<unknown, unknown>) ? undefined : op.output;
}

/** `xs` (sorted) with `x` added. */
function inserted<T>(xs: readonly T[], x: T): T[] {
  const out = [...xs, x];
  return out.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Whether `v` is in `ranges` (flat lo, hi pairs). */
function within(ranges: readonly number[], v: number): boolean {
  for (let i = 0; i < ranges.length; i += 2) if (v >= ranges[i] && v <= ranges[i + 1]) return true;
  return false;
}

/** `ranges` with `v` (not in them) added, merged with a neighbour it touches. */
function withRange(ranges: readonly number[], v: number): number[] {
  const out: number[] = [];
  let placed = false;
  for (let i = 0; i < ranges.length; i += 2) {
    let lo = ranges[i];
    let hi = ranges[i + 1];
    if (!placed && v < lo - 1) {
      out.push(v, v);
      placed = true;
    } else if (!placed && v === lo - 1) ((lo = v), (placed = true));
    else if (!placed && v === hi + 1) {
      hi = v;
      placed = true;
      if (i + 2 < ranges.length && ranges[i + 2] === v + 1) ((hi = ranges[i + 3]), (i += 2));
    }
    out.push(lo, hi);
  }
  if (!placed) out.push(v, v);
  return out;
}

export type RegisterInput =
  | { key: string; f: 'read' }
  | { key: string; f: 'write'; value: string }
  | { key: string; f: 'cas'; expect: number; value: string }
  | { key: string; f: 'delete' };
/** read → {value, version} (value null: absent), write → {version}, cas → {ok, version?}, delete → {ok}; a write's revision rides along for the watch check. */
export type RegisterOutput = { value: string | null; version: number } | { version: number; revision?: number } | { ok: true; version: number; revision?: number } | { ok: false } | { ok: boolean };

/**
 * One key of the state store. `version` null: the key has a version no one has observed yet (an
 * indeterminate write took effect); the first read or compare-and-set to see it fixes it. `seen`:
 * the versions this key has had, which a write's new version must not be one of, as ranges (lo, hi
 * inclusive, flat and sorted): versions mostly come one after another, so the state and its hash
 * stay a few numbers long however many writes the key had.
 */
export interface RegisterState {
  value: string | null;
  version: number | null;
  seen: readonly number[];
}

export interface RegisterOptions {
  /**
   * Whether a delete also forgets the versions the key had, so that a write after it may start the
   * numbering again (Koor's DELETE removes the key and its history; true, the default), or versions
   * are never reused for a key, deletes or not (false).
   */
  forgetOnDelete?: boolean;
}

/**
 * A compare-and-set register with versions, partitioned by key: GET gives value and version, PUT
 * a new version, a PUT with If-Match succeeds only at the version it names (else 412), DELETE.
 * Nothing is assumed about how versions are numbered except that each successful write gives the
 * key one it has not had before and reports it; reads and compare-and-sets must then agree with it.
 * Where a version nobody observed is involved, the model is lenient: it cannot tell a compare-and-set
 * refused against it, or a write's new version, from one that equals it.
 */
export function casRegister(options: RegisterOptions = {}): Model<RegisterState, RegisterInput, RegisterOutput> {
  const forget = options.forgetOnDelete ?? true;
  const fresh = (s: RegisterState, v: number): boolean => !within(s.seen, v);
  /** The key at version `v` with `value`, `v` added to the versions it has had. */
  const at = (s: RegisterState, value: string, v: number): RegisterState => ({ value, version: v, seen: withRange(s.seen, v) });
  /** Whether the current version may be `e`, and the state with it fixed as `e` when it was unobserved. */
  const matching = (s: RegisterState, e: number): RegisterState | null => {
    if (s.value === null) return null;
    if (s.version === e) return s;
    return s.version === null && fresh(s, e) ? at(s, s.value, e) : null;
  };
  return {
    name: 'cas-register',
    init: () => ({ value: null, version: 0, seen: [] }),
    key: (input) => input.key,
    hash: (s) => `${s.version ?? '?'}|${s.seen.join(',')}|${s.value === null ? '-' : `+${s.value}`}`,
    step(s, op) {
      const input = op.input;
      const out = answer(op);
      switch (input.f) {
        case 'read': {
          if (!out) return [];
          const r = out as { value: string | null; version: number };
          if (s.value === null || r.value === null) return s.value === r.value ? [s] : [];
          if (r.value !== s.value) return [];
          const m = matching(s, r.version);
          return m ? [m] : [];
        }
        case 'write': {
          if (!out) return [{ value: input.value, version: null, seen: s.seen }];
          const v = (out as { version: number }).version;
          return fresh(s, v) ? [at(s, input.value, v)] : [];
        }
        case 'cas': {
          const m = matching(s, input.expect);
          if (!out) return m ? [{ value: input.value, version: null, seen: m.seen }] : [];
          const c = out as { ok: boolean; version?: number };
          if (!c.ok) return s.value !== null && s.version === input.expect ? [] : [s];
          return m && c.version !== undefined && fresh(m, c.version) ? [at(m, input.value, c.version)] : [];
        }
        case 'delete': {
          const gone: RegisterState = { value: null, version: 0, seen: forget ? [] : s.seen };
          if (!out) return s.value === null ? [] : [gone];
          if ((out as { ok: boolean }).ok) return s.value === null ? [] : [gone];
          return s.value === null ? [s] : [];
        }
      }
    },
    describe(op) {
      const i = op.input;
      const o = answer(op) as Record<string, unknown> | undefined;
      const call = i.f === 'write' ? `write(${i.key}, ${i.value})` : i.f === 'cas' ? `cas(${i.key}, @${i.expect} → ${i.value})` : `${i.f}(${i.key})`;
      return `${call} → ${o === undefined ? '?' : JSON.stringify(o)}`;
    },
  };
}

export type LeaseInput =
  | { res: string; f: 'acquire'; owner: string; ttlMs?: number }
  | { res: string; f: 'release'; owner: string; lease: string }
  | { res: string; f: 'fenced-write'; owner: string; fence: number }
  | { res: string; f: 'guard'; owner: string; ttlMs: number };
/** acquire → {ok: true, fence, lease} | {ok: false}; release, fenced-write and guard → {ok}. */
export type LeaseOutput = { ok: true; fence: number; lease: string } | { ok: false } | { ok: boolean; revision?: number };

/**
 * One resource. `owner`: who holds it (null: nobody), by one lease or several — an owner's own
 * lease never keeps it from taking another (as Koor's don't). Each lease: its id and fence (null:
 * granted by an indeterminate acquire, not known) and the earliest time its expiry may be observed
 * (its acquire's call time plus its TTL). `fence`: the newest fence issued, or when `fenceKnown` is
 * false (an indeterminate acquire took effect) a number below it. `written`: the largest fence a
 * fenced write of the resource's key was accepted with.
 */
export interface LeaseState {
  owner: string | null;
  leases: ReadonlyArray<{ id: string | null; fence: number | null; expires: number }>;
  fence: number;
  fenceKnown: boolean;
  written: number;
}

/**
 * Mutual exclusion with fencing tokens (file leases), partitioned by resource: at most one owner
 * at a time; each grant's fence is larger than every fence issued before for the resource; an
 * acquire is refused only while another owner holds the resource. A lease may expire, but never
 * before the operation seeing it expired returns `ttlMs` after the acquire's call (the server
 * granted it after the call, so it cannot expire earlier), and need not ever (a sweep may be late).
 * Expiry is applied lazily, by the operation that needs it (a grant to another owner, a release
 * refused to the holder, a fenced write accepted past a lease): nothing else can tell whether it
 * has happened, so no other order needs trying.
 * A fenced write of the resource's key (X-Koor-Fence) is refused exactly when it is superseded:
 * its fence is smaller than one a write was accepted with, or than a live lease's (Kleppmann's
 * "refuse a token smaller than one seen", plus the holder the store knows of).
 * The edit guard (a PreToolUse hook) allows an edit only to the resource's owner or when it is
 * free, and then takes or renews an auto-lease (id `auto`) for `ttlMs` from its call; it denies
 * only while another owner holds the resource.
 */
export function leaseModel(): Model<LeaseState, LeaseInput, LeaseOutput> {
  /** The state with `owner`'s leases, or null when another owner holds leases that cannot all have expired by the time `op` returns. */
  const takeable = (s: LeaseState, owner: string, op: Op<LeaseInput, LeaseOutput>): LeaseState | null => {
    if (s.owner === null || s.owner === owner) return s;
    return s.leases.every((l) => op.ret >= l.expires) ? { ...s, owner: null, leases: [] } : null;
  };
  const kept = (s: LeaseState, leases: LeaseState['leases']): LeaseState => ({ ...s, leases, owner: leases.length === 0 ? null : s.owner });
  return {
    name: 'lease',
    init: () => ({ owner: null, leases: [], fence: -Infinity, fenceKnown: true, written: -Infinity }),
    key: (input) => input.res,
    hash: (s) => `${JSON.stringify(s.owner)}:${s.leases.map((l) => `${l.id ?? '?'}#${l.fence ?? '?'}@${l.expires}`).join(',')}|${s.fence}|${s.fenceKnown ? 'k' : 'u'}|${s.written}`,
    step(s, op) {
      const input = op.input;
      const out = answer(op) as { ok: boolean; fence?: number; lease?: string } | undefined;
      switch (input.f) {
        case 'acquire': {
          const expires = op.call + (input.ttlMs === undefined || input.ttlMs <= 0 ? Infinity : input.ttlMs);
          if (out && !out.ok) return s.owner !== null && s.owner !== input.owner ? [s] : [];
          const f = takeable(s, input.owner, op);
          if (!f) return [];
          if (!out) return [{ ...f, owner: input.owner, leases: [...f.leases, { id: null, fence: null, expires }], fenceKnown: false }];
          if (out.fence === undefined || out.lease === undefined || !(out.fence > f.fence)) return [];
          return [{ ...f, owner: input.owner, leases: [...f.leases, { id: out.lease, fence: out.fence, expires }], fence: out.fence, fenceKnown: true }];
        }
        case 'release': {
          const mine = s.owner === input.owner;
          const known = mine ? s.leases.findIndex((l) => l.id === input.lease) : -1;
          // Its lease, or one whose id nobody saw (an indeterminate acquire's): either may be the one released.
          const candidates = known >= 0 ? [known] : mine ? s.leases.flatMap((l, i) => (l.id === null ? [i] : [])) : [];
          if (!out || out.ok) return candidates.map((i) => kept(s, s.leases.filter((_, j) => j !== i)));
          // Refused: not its lease (any more), or it expired.
          if (known < 0) return [s];
          return op.ret >= s.leases[known]!.expires ? [kept(s, s.leases.filter((_, j) => j !== known))] : [];
        }
        case 'guard': {
          if (out && !out.ok) return s.owner !== null && s.owner !== input.owner ? [s] : [];
          const f = takeable(s, input.owner, op);
          if (!f) return [];
          const expires = op.call + input.ttlMs;
          const auto = f.leases.findIndex((l) => l.id === 'auto');
          if (auto >= 0) return [{ ...f, leases: f.leases.map((l, i) => (i === auto ? { ...l, expires: Math.max(l.expires, expires) } : l)) }];
          return [{ ...f, owner: input.owner, leases: [...f.leases, { id: 'auto', fence: null, expires }], fenceKnown: false }];
        }
        case 'fenced-write': {
          const f = input.fence;
          // Refused: superseded by an accepted write, or by a lease that may be live (one whose fence is unknown may be larger).
          if (out && !out.ok) return f < s.written || s.leases.some((l) => l.fence === null || l.fence > f) ? [s] : [];
          // Accepted (or maybe): not superseded, so every lease with a larger fence had expired by then.
          if (f < s.written) return [];
          const larger = s.leases.filter((l) => l.fence !== null && l.fence > f);
          if (larger.some((l) => op.ret < l.expires)) return [];
          return [{ ...kept(s, s.leases.filter((l) => !larger.includes(l))), written: f }];
        }
      }
    },
    describe(op) {
      const i = op.input;
      const what = i.f === 'acquire' ? `acquire(${i.res}, ${i.owner}, ttl ${i.ttlMs ?? '∞'})` : i.f === 'release' ? `release(${i.res}, ${i.owner}, ${i.lease})` : i.f === 'guard' ? `guard(${i.res}, ${i.owner}, ttl ${i.ttlMs})` : `fenced-write(${i.res}, ${i.owner}, fence ${i.fence})`;
      const o = answer(op);
      return `${what} → ${o === undefined ? '?' : JSON.stringify(o)}`;
    },
  };
}

export type QueueInput = { queue: string; f: 'add'; task: string } | { queue: string; f: 'claim'; who: string } | { queue: string; f: 'complete'; task: string; who: string };
/** add → {ok}, claim → {task} | {none: true}, complete → {ok}. */
export type QueueOutput = { ok: boolean } | { task: string } | { none: true };

/**
 * One queue: the ready tasks and the claimed ones with their claimers, both sorted by task; `owed`:
 * how many of the ready tasks were taken by claims whose answers were lost — which ones is left
 * open until an answer needs it (a claim finding none), so that k lost claims are one state, not
 * one per way to pick their tasks.
 */
export interface QueueState {
  ready: readonly string[];
  claimed: readonly (readonly [task: string, who: string])[];
  owed: number;
}

/**
 * Exactly-once claims, partitioned by queue: a claim takes any ready task (Koor picks by priority
 * and age; the order is not checked) and no other claim gets it while it is claimed; a claim finds
 * none only when no task is ready; only the claimer completes a task, which then leaves the queue.
 * A refused add changes nothing. A lost claim's task is never known, so never completed: it only
 * makes one ready task fewer, any but those later claims are seen to get (lenient on one point: it
 * may be one added after it).
 */
export function queueModel(): Model<QueueState, QueueInput, QueueOutput> {
  const without = (xs: readonly string[], x: string): string[] => xs.filter((y) => y !== x);
  const claimedBy = (s: QueueState, task: string, who: string): boolean => s.claimed.some(([t, w]) => t === task && w === who);
  const claim = (s: QueueState, task: string, who: string): QueueState => ({
    owed: s.owed,
    ready: without(s.ready, task),
    claimed: [...s.claimed, [task, who] as const].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)),
  });
  return {
    name: 'queue',
    init: () => ({ ready: [], claimed: [], owed: 0 }),
    key: (input) => input.queue,
    hash: (s) => JSON.stringify([s.ready, s.claimed, s.owed]),
    // A lost claim's effect is one more owed task, whoever made it; a lost complete is not alike.
    same: (input) => (input.f === 'claim' ? 'claim' : JSON.stringify(input)),
    // A lost add whose task no claim ever got: had it landed, its task would only be one more that
    // a claim finding none must explain; leaving it out is never worse.
    needless(ops) {
      const seen = new Set(ops.flatMap((o) => (o.input.f === 'claim' && o.output && 'task' in o.output ? [o.output.task] : [])));
      return new Set(ops.filter((o) => o.input.f === 'add' && indeterminate(o as Op<unknown, unknown>) && !seen.has(o.input.task)));
    },
    step(s, op) {
      const input = op.input;
      const out = answer(op) as { ok?: boolean; task?: string; none?: true } | undefined;
      switch (input.f) {
        case 'add': {
          if (out && !out.ok) return [s];
          const known = s.ready.includes(input.task) || s.claimed.some(([t]) => t === input.task);
          return known ? [s] : [{ ...s, ready: inserted(s.ready, input.task) }];
        }
        case 'claim': {
          if (!out) return s.owed < s.ready.length ? [{ ...s, owed: s.owed + 1 }] : [];
          if (out.none) return s.owed === s.ready.length ? [{ ...s, ready: [], owed: 0 }] : [];
          return out.task !== undefined && s.ready.includes(out.task) && s.owed < s.ready.length ? [claim(s, out.task, input.who)] : [];
        }
        case 'complete': {
          const mine = claimedBy(s, input.task, input.who);
          if (out && !out.ok) return mine ? [] : [s];
          return mine ? [{ ...s, claimed: s.claimed.filter(([t]) => t !== input.task) }] : [];
        }
      }
    },
    describe(op) {
      const i = op.input;
      const what = i.f === 'add' ? `add(${i.queue}, ${i.task})` : i.f === 'claim' ? `claim(${i.queue}, ${i.who})` : `complete(${i.queue}, ${i.task}, ${i.who})`;
      const o = answer(op);
      return `${what} → ${o === undefined ? '?' : JSON.stringify(o)}`;
    },
  };
}

export type KvInput = { key: string; f: 'get' } | { key: string; f: 'put'; value: string } | { key: string; f: 'append'; value: string };
/** get → {value}; put and append → {}. */
export type KvOutput = { value?: string };

/** A key-value store with get, put and append, partitioned by key; a missing key reads as ''. */
export function kvModel(): Model<string, KvInput, KvOutput> {
  return {
    name: 'kv',
    init: () => '',
    key: (input) => input.key,
    hash: (s) => s,
    step(s, op) {
      const input = op.input;
      const out = answer(op);
      if (input.f === 'get') return out && out.value === s ? [s] : [];
      return [input.f === 'put' ? input.value : s + input.value];
    },
    describe(op) {
      const i = op.input;
      const o = answer(op);
      return i.f === 'get' ? `get(${i.key}) → ${o === undefined ? '?' : JSON.stringify(o.value)}` : `${i.f}(${i.key}, ${JSON.stringify(i.value)})`;
    },
  };
}

export type ValueRegisterInput = { f: 'read' } | { f: 'write'; value: number } | { f: 'cas'; from: number; to: number };
/** read → {value} (null: never written), write → {}, cas → {ok}. */
export type ValueRegisterOutput = { value?: number | null; ok?: boolean };

/** A single register compared by value (as etcd's in Jepsen's tests): read, write, cas(from, to). */
export function valueRegister(): Model<number | null, ValueRegisterInput, ValueRegisterOutput> {
  return {
    name: 'value-register',
    init: () => null,
    hash: (s) => String(s),
    step(s, op) {
      const input = op.input;
      const out = answer(op);
      if (input.f === 'read') return out && out.value === s ? [s] : [];
      if (input.f === 'write') return [input.value];
      if (!out) return s === input.from ? [input.to] : [];
      return out.ok === (s === input.from) ? [out.ok ? input.to : s] : [];
    },
    describe(op) {
      const i = op.input;
      const o = answer(op);
      const what = i.f === 'read' ? 'read()' : i.f === 'write' ? `write(${i.value})` : `cas(${i.from}, ${i.to})`;
      return `${what} → ${o === undefined ? '?' : JSON.stringify(o)}`;
    },
  };
}
