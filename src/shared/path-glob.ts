import { GLOB_CACHE_MAX_PATTERNS, GLOB_OVERLAP_MAX_PAIRS } from './limits.js';
import { parseGlob, tokensToRegExpSource, type GlobToken } from './glob.js';
import { setBounded } from './bounded.js';

/**
 * Path globs of leases: the dialect of event patterns (`*` and `?` never cross '/', classes,
 * `\x`) plus `**`, any run of characters including '/'; `**` followed by '/' at the start of a
 * segment may also match nothing, so `src/**\/*.ts` covers `src/a.ts` as well as `src/x/y/a.ts`.
 * Unlike topic globs, `*` alone is not "everything": it is one top-level name (use `**`).
 *
 * Two globs overlap when some path matches both. That is decided exactly, on the globs
 * themselves: each becomes a small automaton and the product of the two is searched for an
 * accepting path (globIntersection), which also yields a witness path.
 *
 * The writer thread imports this module (conflict checks run inside its transaction): it only
 * depends on glob.ts and the constants of limits.ts, nothing with I/O or front-process state.
 */

/** Code point sets as sorted, disjoint, inclusive ranges: [lo0, hi0, lo1, hi1, …]. */
type CharSet = readonly number[];

const MAX_CP = 0x10ffff;
const SLASH = 0x2f;
const ALL: CharSet = [0, MAX_CP];
const NOT_SLASH: CharSet = [0, SLASH - 1, SLASH + 1, MAX_CP];
const ONLY_SLASH: CharSet = [SLASH, SLASH];

function classSet(ranges: ReadonlyArray<readonly [number, number]>, negated: boolean): CharSet {
  const sorted = [...ranges].sort((a, b) => a[0] - b[0]);
  const merged: number[] = [];
  for (const [lo, hi] of sorted) {
    const n = merged.length;
    if (n > 0 && lo <= merged[n - 1]! + 1) merged[n - 1] = Math.max(merged[n - 1]!, hi);
    else merged.push(lo, hi);
  }
  if (!negated) return merged;
  const out: number[] = [];
  let next = 0;
  for (let i = 0; i < merged.length; i += 2) {
    if (merged[i]! > next) out.push(next, merged[i]! - 1);
    next = merged[i + 1]! + 1;
  }
  if (next <= MAX_CP) out.push(next, MAX_CP);
  return out;
}

/** The smallest code point in both sets, or -1. */
function firstCommon(a: CharSet, b: CharSet): number {
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const lo = Math.max(a[i]!, b[j]!);
    const hi = Math.min(a[i + 1]!, b[j + 1]!);
    if (lo <= hi) return lo;
    if (a[i + 1]! < b[j + 1]!) i += 2;
    else j += 2;
  }
  return -1;
}

/** A nondeterministic automaton: per state, character edges and ε-edges; state `accept` accepts. */
interface Nfa {
  edges: Array<Array<{ set: CharSet; to: number }>>;
  eps: number[][];
  accept: number;
}

function buildNfa(tokens: readonly GlobToken[]): Nfa {
  const edges: Nfa['edges'] = [[]];
  const eps: Nfa['eps'] = [[]];
  const state = (): number => {
    edges.push([]);
    eps.push([]);
    return edges.length - 1;
  };
  let s = 0;
  for (const t of tokens) {
    const next = state();
    switch (t.kind) {
      case 'char':
        edges[s]!.push({ set: [t.cp, t.cp], to: next });
        break;
      case 'one':
        edges[s]!.push({ set: NOT_SLASH, to: next });
        break;
      case 'class':
        edges[s]!.push({ set: classSet(t.ranges, t.negated), to: next });
        break;
      case 'star':
        edges[s]!.push({ set: NOT_SLASH, to: s });
        eps[s]!.push(next);
        break;
      case 'globstar':
        if (t.dir) {
          // (anything ending in '/')? : skip it, or loop over anything and leave on a '/'.
          const inner = state();
          eps[s]!.push(next, inner);
          edges[inner]!.push({ set: ALL, to: inner }, { set: ONLY_SLASH, to: next });
        } else {
          edges[s]!.push({ set: ALL, to: s });
          eps[s]!.push(next);
        }
        break;
    }
    s = next;
  }
  return { edges, eps, accept: s };
}

/**
 * A parsed path glob with what the lease index and the matchers need. Its matcher and automaton
 * are built when first used: most globs a server sees are plain paths (an edit's auto-lease),
 * matched by comparing strings, and few are ever searched for an overlap.
 */
export class PathGlob {
  private matcher: RegExp | undefined;
  private automaton: Nfa | undefined;

  constructor(
    readonly pattern: string,
    /** The literal text before the first wildcard: every matching path starts with it. */
    readonly prefix: string,
    /** No wildcard at all: the glob is the one path `prefix`. */
    readonly literal: boolean,
    /** Its tokens; null for a plain path (parsed when first needed). */
    private tokens: readonly GlobToken[] | null,
  ) {}

  private parsed(): readonly GlobToken[] {
    return (this.tokens ??= parseGlob(this.pattern, true)!);
  }

  get re(): RegExp {
    return (this.matcher ??= new RegExp(tokensToRegExpSource(this.parsed()), 'su'));
  }

  get nfa(): Nfa {
    return (this.automaton ??= buildNfa(this.parsed()));
  }

  /** Does `path` match it? A plain path is compared, a path not starting with the prefix is refused at once. */
  matches(path: string): boolean {
    return this.literal ? path === this.prefix : path.startsWith(this.prefix) && this.re.test(path);
  }
}

const cache = new Map<string, PathGlob | null>();

/** A glob without `\\`, `*`, `?` or `[`: one path, and never malformed. */
const PLAIN = /^[^\\*?[]*$/;

/**
 * The parsed glob, or null when it is malformed (cached, bounded like the topic matcher). A plain
 * path — most globs: every edit's auto-lease — is neither parsed nor cached: its glob is the path,
 * made anew at each call (a token per character, kept in the cache, was ~1 KB for each lease a
 * node saw taken, all of it outliving the young generation: a third of the front's promoted bytes
 * while agents took leases).
 */
export function pathGlob(pattern: string): PathGlob | null {
  if (PLAIN.test(pattern)) return new PathGlob(pattern, pattern, true, null);
  let g = cache.get(pattern);
  if (g !== undefined) return g;
  const tokens = parseGlob(pattern, true);
  if (tokens === null) g = null;
  else {
    let n = 0;
    let prefix = '';
    for (let t = tokens[0]; t !== undefined && t.kind === 'char'; t = tokens[++n]) prefix += String.fromCodePoint(t.cp);
    g = new PathGlob(pattern, prefix, n === tokens.length, tokens);
  }
  setBounded(cache, pattern, g, GLOB_CACHE_MAX_PATTERNS);
  return g;
}

/**
 * The path glob that matches `path` and nothing else: its `\\`, `*`, `?` and `[` escaped. A file
 * a hook leases is a path, not a pattern: `app/[id]/page.tsx` (Next.js, SvelteKit) as a glob
 * would match `app/i/page.tsx` and never itself.
 */
export const literalPathGlob = (path: string): string => path.replace(/[\\*?[]/g, '\\$&');

/** true when `pattern` is a well-formed, non-empty path glob. */
export function isValidPathGlob(pattern: string): boolean {
  return pattern !== '' && pathGlob(pattern) !== null;
}

/** Does `path` match the path glob `pattern`? A malformed pattern matches nothing. */
export function pathGlobMatch(pattern: string, path: string): boolean {
  return pathGlob(pattern)?.matches(path) ?? false;
}

/**
 * A path matching both globs, or null when none does (or either is malformed). Exact: a
 * breadth-first search of the product of the two automata (states = pairs of positions, at most
 * the product of the glob lengths), stepping on a character both sides accept. Also null in the
 * one case it cannot tell within GLOB_OVERLAP_MAX_PAIRS (see globsOverlap).
 */
export function globIntersection(a: string, b: string): string | null {
  const r = intersect(a, b);
  return r === BUDGET ? null : r;
}

/**
 * Do the two path globs overlap (some path matches both)? Exact, except for pathological pairs
 * whose search exceeds GLOB_OVERLAP_MAX_PAIRS: those count as overlapping, the safe side for a
 * lock (two agents are never let into the same file).
 */
export function globsOverlap(a: string, b: string): boolean {
  return intersect(a, b) !== null;
}

function intersect(a: string, b: string): SearchResult {
  const ga = pathGlob(a);
  const gb = pathGlob(b);
  if (ga === null || gb === null) return null;
  // The common cases need no search: one side is a plain path.
  if (ga.literal) return gb.matches(ga.prefix) ? ga.prefix : null;
  if (gb.literal) return ga.matches(gb.prefix) ? gb.prefix : null;
  // Literal prefixes that disagree rule out any common path at once.
  if (!ga.prefix.startsWith(gb.prefix) && !gb.prefix.startsWith(ga.prefix)) return null;
  return search(ga.nfa, gb.nfa);
}

/**
 * Visited state pairs, with the pair each was reached from and the character stepped on (-1 = ε).
 * Dense arrays when the product is small; otherwise an open-addressing table of fixed capacity.
 */
class Visited {
  private readonly keys: Int32Array | null;
  private readonly from: Int32Array;
  private readonly via: Int32Array;
  private readonly mask: number;
  count = 0;

  constructor(size: number) {
    const dense = size <= GLOB_OVERLAP_MAX_PAIRS;
    const cap = dense ? size : GLOB_OVERLAP_MAX_PAIRS * 2;
    this.keys = dense ? null : new Int32Array(cap).fill(-1);
    this.from = new Int32Array(cap).fill(-2);
    this.via = new Int32Array(cap);
    this.mask = cap - 1;
  }

  /** Slot of `pair` (its own, or the free one it would take). */
  private slot(pair: number): number {
    if (this.keys === null) return pair;
    let i = Math.imul(pair, 0x9e3779b1) & this.mask;
    while (this.keys[i] !== -1 && this.keys[i] !== pair) i = (i + 1) & this.mask;
    return i;
  }

  /** Records `pair` unless seen; false when it was. */
  add(pair: number, parent: number, cp: number): boolean {
    const i = this.slot(pair);
    if (this.from[i] !== -2) return false;
    if (this.keys !== null) this.keys[i] = pair;
    this.from[i] = parent;
    this.via[i] = cp;
    this.count++;
    return true;
  }

  /** The characters stepped on from the start to `pair`. */
  path(pair: number): string {
    const cps: number[] = [];
    for (let i = this.slot(pair); this.from[i] !== -1; i = this.slot(this.from[i]!)) if (this.via[i]! >= 0) cps.push(this.via[i]!);
    return String.fromCodePoint(...cps.reverse());
  }
}

/** What the product search found: a common path, none, or it ran out of budget. */
type SearchResult = string | null | typeof BUDGET;
const BUDGET = Symbol('over budget');

function search(A: Nfa, B: Nfa): SearchResult {
  const nb = B.edges.length;
  const seen = new Visited(A.edges.length * nb);
  const queue: number[] = [0];
  seen.add(0, -1, -1);
  const goal = A.accept * nb + B.accept;
  const visit = (pair: number, parent: number, cp: number): void => {
    if (seen.add(pair, parent, cp)) queue.push(pair);
  };
  for (let head = 0; head < queue.length; head++) {
    const pair = queue[head]!;
    if (pair === goal) return seen.path(pair);
    // Adversarial globs (long runs of wildcards on both sides) can reach hundreds of thousands of
    // pairs; the writer must not stall on them.
    if (seen.count > GLOB_OVERLAP_MAX_PAIRS) return BUDGET;
    const p = (pair / nb) | 0;
    const q = pair - p * nb;
    for (const e of A.eps[p]!) visit(e * nb + q, pair, -1);
    for (const e of B.eps[q]!) visit(p * nb + e, pair, -1);
    for (const ea of A.edges[p]!) {
      for (const eb of B.edges[q]!) {
        const cp = firstCommon(ea.set, eb.set);
        if (cp >= 0) visit(ea.to * nb + eb.to, pair, cp);
      }
    }
  }
  return null;
}

/**
 * Every key of a sorted index that is a prefix of `p` (keys and `p` are UTF-8 bytes), found with
 * a few seeks instead of one lookup per prefix length. `atMost(x, inclusive)` returns the largest
 * key ≤ x (< x when not inclusive), or undefined. Used to find the leases whose literal prefix
 * starts the path (or prefix) at hand: only those can match it. `floor`: every key sought is at
 * least that long and shares `p`'s first `floor` bytes (a lease key's project part): the search
 * ends there rather than walk through other projects' keys.
 *
 * Why it is complete: if the largest key K ≤ x is not a prefix of p, let c = the common prefix of
 * K and p; K < p[0..c+1) (K ≤ p and they differ at c), so no key lies in (p[0..c], K] that is a
 * prefix of p longer than c: the search continues at p[0..c]. Each step shortens x or passes a key.
 */
export function prefixKeysOf(p: Buffer, atMost: (x: Buffer, inclusive: boolean) => Buffer | undefined, floor = 0): Buffer[] {
  const found: Buffer[] = [];
  let x = p;
  let inclusive = true;
  for (;;) {
    const k = atMost(x, inclusive);
    if (k === undefined) return found;
    let c = 0;
    while (c < k.length && c < p.length && k[c] === p[c]) c++;
    if (c === k.length) {
      found.push(k);
      if (k.length <= floor) return found;
      x = k;
      inclusive = false;
    } else {
      if (c < floor) return found;
      x = p.subarray(0, c);
      inclusive = true;
    }
  }
}

/** The smallest byte string greater than every string that starts with `p` (`p` non-empty UTF-8). */
export function prefixEnd(p: Buffer): Buffer {
  const end = Buffer.from(p);
  // UTF-8 never contains 0xff (its largest byte is 0xf4): incrementing the last byte cannot carry.
  end[end.length - 1]! += 1;
  return end;
}
