/**
 * A linearizability checker: Wing & Gong's search with Lowe's memoization, the way Porcupine
 * (github.com/anishathalye/porcupine, MIT) implements it, over histories recorded by Jepsen-style
 * clients. Indeterminate operations (a timeout, a 5xx) may have taken effect at any point after
 * their call, or never.
 */

/**
 * One operation as a client recorded it. `call` and `ret` are times (ms, from one monotonic clock).
 * An indeterminate operation (no answer, or one saying nothing about the outcome) has `output`
 * undefined and `ret` Infinity; an operation missing either is treated as indeterminate too, so a
 * model's outputs must never be `undefined` (use `{}` for "done, nothing to say").
 */
export interface Op<I, O> {
  client: number | string;
  input: I;
  call: number;
  ret: number;
  output?: O;
}

/**
 * A sequential specification. `step` gets the whole operation, so that a model can use its times
 * (a lease's expiry depends on when the operation that sees it returned), and answers the states
 * the operation may leave when linearized in `state`: none = not allowed there, several = the
 * outcome is not determined by the history (an indeterminate operation's possible effects, or an
 * expiry that may or may not have happened yet); the checker tries each. For an indeterminate
 * operation a model need not list "it had no effect": the checker may leave such an operation out
 * of the order altogether.
 */
export interface Model<S, I, O> {
  name: string;
  init(): S;
  step(state: S, op: Op<I, O>): readonly S[];
  /** Operations with different keys never interact, so each key's sub-history is checked alone. */
  key?(input: I): string;
  /** Equal states, equal strings, and only then: the memo cache compares states by this. */
  hash(state: S): string;
  /**
   * Indeterminate operations with equal strings here have the same effect in every state (the model
   * reads nothing else of them): the search then linearizes them in call order only, one order for
   * k of them instead of every choice of which.
   */
  same?(input: I): string;
  /**
   * A partition's indeterminate operations that may be left out of its check without changing the
   * verdict (none of their effects can make an order possible): the search need not try them.
   */
  needless?(ops: readonly Op<I, O>[]): ReadonlySet<Op<I, O>>;
  describe?(op: Op<I, O>): string;
}

/**
 * The verdict. When not linearizable: the partition's key ('' for a model without `key`), a
 * completed operation that no order of what precedes it could place, and the longest order of
 * operations the search managed to linearize.
 */
export type CheckResult<I, O> =
  | { ok: true }
  | { ok: false; key: string; op: Op<I, O>; longest: Op<I, O>[] }
  | { ok: 'unknown'; reason: 'timeout' };

export interface CheckOptions {
  /** Give up after this long (all partitions together) with `ok: 'unknown'`. */
  timeoutMs?: number;
}

/** Whether the operation's outcome is unknown: it may or may not have taken effect. */
export function indeterminate(op: Op<unknown, unknown>): boolean {
  return op.output === undefined || op.ret === Infinity;
}

/** One partition's verdict, before the key is attached. */
type PartitionResult<I, O> = { ok: true } | { ok: false; op: Op<I, O>; longest: Op<I, O>[] };

/**
 * Checks a history against a model, each partition (model.key) on its own. The partitions' searches
 * take turns, a slice of steps each in key order, as Porcupine runs them in parallel: one that fails
 * quickly is not waited for behind one that takes long. The slices count steps, not time, so the
 * failure reported is always the same.
 */
export function check<S, I, O>(model: Model<S, I, O>, history: readonly Op<I, O>[], options: CheckOptions = {}): CheckResult<I, O> {
  for (const op of history) {
    if (!Number.isFinite(op.call)) throw new Error(`operation of client ${op.client}: call time ${op.call} is not a finite number`);
    if (op.output !== undefined && !(op.ret >= op.call)) throw new Error(`operation of client ${op.client} returns (${op.ret}) before its call (${op.call})`);
  }
  const deadline = options.timeoutMs === undefined ? Infinity : performance.now() + options.timeoutMs;
  const parts = new Map<string, Op<I, O>[]>();
  for (const op of history) {
    const k = model.key ? model.key(op.input) : '';
    let part = parts.get(k);
    if (!part) parts.set(k, (part = []));
    part.push(op);
  }
  // Keys sorted by code unit (not locale), so the same history always reports the same failure;
  // each partition's operations by call time (a stable sort: ties stay in history order).
  const byCall = (ops: Op<I, O>[]): Op<I, O>[] => {
    const skip = model.needless?.(ops);
    return (skip && skip.size > 0 ? ops.filter((o) => !skip.has(o)) : ops).sort((a, b) => a.call - b.call);
  };
  let turns = [...parts.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)).map((key) => ({ key, search: searchPartition(model, byCall(parts.get(key)!)) }));
  while (turns.length > 0) {
    const left: typeof turns = [];
    for (const turn of turns) {
      if (performance.now() >= deadline) return { ok: 'unknown', reason: 'timeout' };
      const r = turn.search.next();
      if (!r.done) left.push(turn);
      else if (!r.value.ok) return { ok: false, key: turn.key, op: r.value.op, longest: r.value.longest };
    }
    turns = left;
  }
  return { ok: true };
}

/** Sort rank of an entry at a given time: see `entries`. */
const RETURN = 0;
const ZERO_CALL = 1;
const ZERO_RETURN = 2;
const CALL = 3;

/**
 * The call and return entries of a partition's operations, by time. At equal times a return comes
 * before a call, so operations that merely touch are ordered, not concurrent; an operation taking
 * no time at all sits between the two, its own call before its return (operations of zero duration
 * at one instant are concurrent with each other). Indeterminate operations have no return entry:
 * nothing ever forces them into the order. Ties are broken by position in the history.
 */
function entries(ops: readonly Op<unknown, unknown>[], open: readonly boolean[]): Int32Array {
  const list: { time: number; rank: number; op: number; node: number }[] = [];
  ops.forEach((op, i) => {
    const zero = !open[i] && op.call === op.ret;
    list.push({ time: op.call, rank: zero ? ZERO_CALL : CALL, op: i, node: 2 * i });
    if (!open[i]) list.push({ time: op.ret, rank: zero ? ZERO_RETURN : RETURN, op: i, node: 2 * i + 1 });
  });
  list.sort((a, b) => a.time - b.time || a.rank - b.rank || a.op - b.op);
  return Int32Array.from(list, (e) => e.node);
}

/** A deterministic PRNG (mulberry32): the memo's bitset hashes are the same on every run. */
function random32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** A bitset's word with every bit set. */
const ALL = 0xffffffff;

/** Steps of one partition's search between two turns (and two looks at the clock). */
const SLICE = 1024;

/**
 * The search over one partition. Nodes are numbered: 2i is op i's call, 2i+1 its return. Completed
 * operations' entries are in one list (sentinel HEAD), indeterminate operations' calls in another
 * (sentinel OPEN), both by time and doubly linked through typed arrays (NIL at the end). The
 * candidates at a point are the calls before the first return left (the wall): the completed ones
 * are tried first, then the indeterminate ones called before the wall, so that the search leaves
 * those out of the order for as long as it can (often all along). A candidate the model allows,
 * whose pair of linearized set and state was not explored before, is lifted out of its list (with
 * its return) and the scan starts again; when no candidate is left the search backtracks, via an
 * explicit stack, to the last choice and tries its next successor state or the next candidate.
 * Yields after every SLICE steps.
 */
function* searchPartition<S, I, O>(model: Model<S, I, O>, ops: readonly Op<I, O>[]): Generator<void, PartitionResult<I, O>, void> {
  const n = ops.length;
  const open = ops.map((op) => indeterminate(op as Op<unknown, unknown>));
  // What the model sees of an indeterminate operation: no output, never returned.
  const shown = ops.map((op, i) => (open[i] && (op.output !== undefined || op.ret !== Infinity) ? { client: op.client, input: op.input, call: op.call, ret: Infinity } : op));
  // Each indeterminate operation's interchangeable predecessor (model.same), or -1.
  const before = new Int32Array(n).fill(-1);
  if (model.same) {
    const last = new Map<string, number>();
    ops.forEach((op, i) => {
      if (!open[i]) return;
      const k = model.same!(op.input);
      before[i] = last.get(k) ?? -1;
      last.set(k, i);
    });
  }
  let remaining = open.reduce((c, o) => c + (o ? 0 : 1), 0);
  if (remaining === 0) return { ok: true };

  const NIL = -1;
  const HEAD = 2 * n;
  const OPEN = 2 * n + 1;
  const next = new Int32Array(2 * n + 2).fill(NIL);
  const prev = new Int32Array(2 * n + 2).fill(NIL);
  // Position of each entry in the time order, to compare an indeterminate call with the wall.
  const rank = new Int32Array(2 * n);
  let lastDone = HEAD;
  let lastOpen = OPEN;
  entries(ops as readonly Op<unknown, unknown>[], open).forEach((node, r) => {
    rank[node] = r;
    const tail = open[node >> 1] ? lastOpen : lastDone;
    next[tail] = node;
    prev[node] = tail;
    if (open[node >> 1]) lastOpen = node;
    else lastDone = node;
  });
  const unlink = (x: number): void => {
    next[prev[x]] = next[x];
    if (next[x] !== NIL) prev[next[x]] = prev[x];
  };
  const relink = (x: number): void => {
    next[prev[x]] = x;
    if (next[x] !== NIL) prev[next[x]] = x;
  };
  // A call's return is lifted with it and put back first (the reverse order), as Porcupine does.
  const lift = (call: number): void => {
    unlink(call);
    if (!open[call >> 1]) unlink(call + 1);
  };
  const unlift = (call: number): void => {
    if (!open[call >> 1]) relink(call + 1);
    relink(call);
  };

  // The linearized set in two bitsets: completed operations (numbered among themselves by call
  // time) with two Zobrist hashes kept up to date as bits flip, and indeterminate ones (numbered
  // among themselves). Completed ones are linearized mostly in call order, so their set is mostly a
  // run of ones and a few bits past it: words below `full` are all ones, from `top` on all zeros,
  // and only the words between are stored.
  const slot = new Int32Array(n);
  let done = 0;
  let maybe = 0;
  for (let i = 0; i < n; i++) slot[i] = open[i] ? maybe++ : done++;
  const words = (done + 31) >>> 5;
  const bits = new Uint32Array(words);
  const openWords = (maybe + 31) >>> 5;
  const openBits = new Uint32Array(openWords);
  const rnd = random32(0x6b6f6f72);
  const z1 = Uint32Array.from({ length: done }, rnd);
  const z2 = Uint32Array.from({ length: done }, rnd);
  let h1 = 0;
  let h2 = 0;
  let full = 0;
  let top = 0;
  const flip = (i: number): void => {
    const b = slot[i];
    if (open[i]) {
      openBits[b >>> 5] ^= 1 << (b & 31);
      return;
    }
    const w = b >>> 5;
    bits[w] ^= 1 << (b & 31);
    h1 ^= z1[b];
    h2 ^= z2[b];
    if (bits[w] === ALL) {
      if (w === full) while (full < words && bits[full] === ALL) full++;
    } else if (w < full) full = w;
    if (bits[w] !== 0) top = Math.max(top, w + 1);
    else if (w === top - 1) while (top > 0 && bits[top - 1] === 0) top--;
  };
  // The explored configurations: by both hashes and the state's, where their sets are in one arena
  // (one typed array for all: a typed array apiece costs more to allocate and collect), as full,
  // top, the words between, and the indeterminate operations' words. A configuration is as good as
  // explored when one with the same completed operations and state, and a subset of its
  // indeterminate ones, was: that one had every continuation this one has (an indeterminate
  // operation may always be left out), so if it failed this one fails too. Without this, each
  // place an unseen indeterminate write could go would be searched again, 2^k configurations for k.
  const cache = new Map<string, number[]>();
  let arena = new Uint32Array(1024);
  let used = 0;
  /** Records (linearized set, state) as explored; false when it, or one it dominates, already was. */
  const remember = (stateHash: string): boolean => {
    const k = `${h1}.${h2}.${stateHash}`;
    let bucket = cache.get(k);
    const mid = Math.max(top - full, 0);
    if (bucket) {
      next: for (const at of bucket) {
        if (arena[at] !== full || arena[at + 1] !== mid) continue;
        for (let j = 0; j < mid; j++) if (arena[at + 2 + j] !== bits[full + j]) continue next;
        const o = at + 2 + mid;
        for (let j = 0; j < openWords; j++) if ((arena[o + j] & ~openBits[j]) !== 0) continue next;
        return false;
      }
    } else cache.set(k, (bucket = []));
    const size = 2 + mid + openWords;
    if (used + size > arena.length) {
      const bigger = new Uint32Array(Math.max(arena.length * 2, used + size));
      bigger.set(arena);
      arena = bigger;
    }
    arena[used] = full;
    arena[used + 1] = mid;
    arena.set(bits.subarray(full, full + mid), used + 2);
    arena.set(openBits, used + 2 + mid);
    bucket.push(used);
    used += size;
    return true;
  };

  // The stack of choices made: the call node, the state before it, its successors, the one taken,
  // and for an indeterminate call the wall it was tried before.
  const stackNode: number[] = [];
  const stackPrev: S[] = [];
  const stackSuccs: (readonly S[])[] = [];
  const stackTaken: number[] = [];
  const stackWall: number[] = [];
  // The longest order reached, copied lazily: best[0, stable) equals the stack's bottom.
  const best: number[] = [];
  let stable = 0;
  let blocked = -1;
  let blockedAt = -1;

  let state = model.init();
  let entry = next[HEAD];
  let wall = NIL;
  let steps = 0;

  /**
   * Whether indeterminate op `i`, linearized now into a state hashed `h`, would have reached that
   * state from before the indeterminate operations linearized just before it (with no completed one
   * since, the wall is the same): that configuration has fewer operations and so every continuation
   * this one has — a timed-out write overwritten by another is as if it never landed. Only a short
   * run back is looked at.
   */
  const reachedBefore = (i: number, h: string): boolean => {
    for (let d = stackNode.length - 1, k = 0; d >= 0 && k < 8 && open[stackNode[d] >> 1]; d--, k++) {
      for (const s2 of model.step(stackPrev[d], shown[i])) if (model.hash(s2) === h) return true;
    }
    return false;
  };

  /** Linearizes `node` with the first of `succs` from `from` on that is new; false when none is. */
  const advance = (node: number, succs: readonly S[], from: number): boolean => {
    const i = node >> 1;
    // An interchangeable one called earlier goes first (it is a candidate wherever this one is).
    if (before[i] >= 0 && (openBits[slot[before[i]] >>> 5] & (1 << (slot[before[i]] & 31))) === 0) return false;
    // An indeterminate operation that changes nothing is better left out: that state, with fewer
    // operations linearized, has every continuation this one has.
    const here = open[i] ? model.hash(state) : null;
    flip(i);
    for (let j = from; j < succs.length; j++) {
      const h = model.hash(succs[j]);
      if (h === here || (open[i] && reachedBefore(i, h)) || !remember(h)) continue;
      stackNode.push(node);
      stackPrev.push(state);
      stackSuccs.push(succs);
      stackTaken.push(j);
      stackWall.push(wall);
      if (stackNode.length > best.length) {
        for (let d = stable; d < stackNode.length; d++) best[d] = stackNode[d];
        stable = stackNode.length;
      }
      state = succs[j];
      lift(node);
      if (!open[i]) remaining--;
      entry = next[HEAD];
      return true;
    }
    flip(i);
    return false;
  };

  while (remaining > 0) {
    if (++steps % SLICE === 0) yield;
    if (entry !== NIL && !open[entry >> 1]) {
      // The completed operations' list; a completed operation's return always comes before its end.
      if ((entry & 1) === 1) {
        wall = entry;
        entry = next[OPEN];
      } else if (!advance(entry, model.step(state, shown[entry >> 1]), 0)) entry = next[entry];
      continue;
    }
    if (entry !== NIL && rank[entry] < rank[wall]) {
      if (!advance(entry, model.step(state, shown[entry >> 1]), 0)) entry = next[entry];
      continue;
    }
    // No candidate left before the wall: back to the last choice.
    const depth = stackNode.length;
    if (depth === best.length && stable === depth && blockedAt !== depth) {
      blocked = wall >> 1;
      blockedAt = depth;
    }
    if (depth === 0) break;
    const node = stackNode.pop()!;
    const succs = stackSuccs.pop()!;
    const taken = stackTaken.pop()!;
    wall = stackWall.pop()!;
    state = stackPrev.pop()!;
    stable = Math.min(stable, stackNode.length);
    flip(node >> 1);
    unlift(node);
    if (!open[node >> 1]) remaining++;
    if (!advance(node, succs, taken + 1)) entry = next[node];
  }
  if (remaining === 0) return { ok: true };
  const placed = new Set(best.map((x) => x >> 1));
  const culprit = blocked >= 0 ? blocked : ops.findIndex((_, i) => !open[i] && !placed.has(i));
  return { ok: false, op: ops[culprit], longest: best.map((x) => ops[x >> 1]) };
}
