import { GLOB_CACHE_MAX_PATTERNS } from './limits.js';
import { setBounded } from './bounded.js';

/**
 * Glob matching as Go's path.Match: `*` = any run of non-'/' characters (it crosses
 * '.'), `?` = one non-'/' character, `[abc]`, `[a-z]`, `[^a-z]` classes, `\x` = literal x.
 * Whole-string match. A malformed pattern matches nothing and never throws. `""` and `*` match
 * everything (the event-bus convention for "all topics").
 */
export type Matcher = (s: string) => boolean;

/** What `*` and `""` compile to: callers may test for it to skip matching altogether. */
export const MATCH_ALL: Matcher = () => true;
const MATCH_NONE: Matcher = () => false;
const cache = new Map<string, Matcher>();

const reEscape = (cp: number): string => `\\u{${cp.toString(16)}}`;

/** Reads one class character (maybe `\`-escaped) at i; null if malformed. */
function classChar(p: string, i: number): { cp: number; next: number } | null {
  if (i >= p.length) return null;
  let c = p.codePointAt(i)!;
  if (c === 0x2d /* - */ || c === 0x5d /* ] */) return null;
  if (c === 0x5c /* \ */) {
    i++;
    if (i >= p.length) return null;
    c = p.codePointAt(i)!;
  }
  return { cp: c, next: i + (c > 0xffff ? 2 : 1) };
}

/**
 * One element of a glob. `ranges` are inclusive code point ranges with lo <= hi (Go accepts a
 * reversed range and never matches it: it is dropped). `globstar` exists only in the path dialect.
 */
export type GlobToken =
  | { kind: 'char'; cp: number }
  | { kind: 'one' }
  | { kind: 'class'; negated: boolean; ranges: Array<[number, number]> }
  | { kind: 'star' }
  /** `**`: any run of characters, '/' included; `dir`: written `**\/` at the start of a segment, which may also match nothing at all (`src/**\/*.ts` matches `src/a.ts`). */
  | { kind: 'globstar'; dir: boolean };

/**
 * Parses a glob (Go's path.Match dialect, docs/events.md#patterns) into tokens, or null if it is malformed. With `globstar` (the path
 * dialect of leases) a run of two or more `*` is a globstar; otherwise it is just stars.
 */
export function parseGlob(p: string, globstar = false): GlobToken[] | null {
  const out: GlobToken[] = [];
  let i = 0;
  while (i < p.length) {
    const c = p.codePointAt(i)!;
    if (c === 0x2a /* * */) {
      if (globstar && p[i + 1] === '*') {
        let j = i;
        while (p[j] === '*') j++;
        const segmentStart = i === 0 || p[i - 1] === '/';
        const dir = segmentStart && p[j] === '/';
        out.push({ kind: 'globstar', dir });
        i = dir ? j + 1 : j;
      } else {
        out.push({ kind: 'star' });
        i += 1;
      }
    } else if (c === 0x3f /* ? */) {
      out.push({ kind: 'one' });
      i += 1;
    } else if (c === 0x5c /* \ */) {
      if (i + 1 >= p.length) return null;
      const e = p.codePointAt(i + 1)!;
      out.push({ kind: 'char', cp: e });
      i += 1 + (e > 0xffff ? 2 : 1);
    } else if (c === 0x5b /* [ */) {
      i += 1;
      let negated = false;
      if (p[i] === '^') {
        negated = true;
        i += 1;
      }
      const ranges: Array<[number, number]> = [];
      let n = 0;
      for (;;) {
        if (i < p.length && p[i] === ']' && n > 0) {
          i += 1;
          break;
        }
        const lo = classChar(p, i);
        if (!lo) return null;
        i = lo.next;
        let hi = lo.cp;
        if (p[i] === '-') {
          const h = classChar(p, i + 1);
          if (!h) return null;
          hi = h.cp;
          i = h.next;
        }
        if (lo.cp <= hi) ranges.push([lo.cp, hi]);
        n++;
      }
      out.push({ kind: 'class', negated, ranges });
    } else {
      out.push({ kind: 'char', cp: c });
      i += c > 0xffff ? 2 : 1;
    }
  }
  return out;
}

/** The anchored RegExp source of parsed tokens (flags `su`). */
export function tokensToRegExpSource(tokens: readonly GlobToken[]): string {
  let out = '';
  for (const t of tokens) {
    switch (t.kind) {
      case 'char':
        out += reEscape(t.cp);
        break;
      case 'one':
        out += '[^/]';
        break;
      case 'star':
        out += '[^/]*';
        break;
      case 'globstar':
        out += t.dir ? '(?:.*/)?' : '.*';
        break;
      case 'class': {
        const ranges = t.ranges.map(([lo, hi]) => (lo === hi ? reEscape(lo) : `${reEscape(lo)}-${reEscape(hi)}`)).join('');
        out += t.negated ? `[^${ranges}]` : ranges === '' ? '(?!)' : `[${ranges}]`;
        break;
      }
    }
  }
  return `^${out}$`;
}

/** Translates a Go glob to an anchored RegExp source, or null if the pattern is malformed. */
export function globToRegExpSource(p: string): string | null {
  const tokens = parseGlob(p);
  return tokens === null ? null : tokensToRegExpSource(tokens);
}

/**
 * The same match as a PostgreSQL regular expression (ARE, for `topic ~ re`), or null when
 * nothing can match (a malformed pattern, an empty class). `pattern` is neither '' nor '*'.
 */
export function postgresRegexOf(pattern: string): string | null {
  const src = globToRegExpSource(pattern);
  if (src === null || src.includes('(?!)')) return null;
  // JS `\u{hex}` → ARE `\Uhhhhhhhh`; JS `[^]` (a negated empty class: any character) → ARE `.`
  // (which matches newlines too); everything else the translation emits means the same in both.
  return src.replace(/\\u\{([0-9a-f]+)\}/g, (_m, hex: string) => `\\U${hex.padStart(8, '0')}`).replaceAll('[^]', '.');
}

export function compileGlob(pattern: string): Matcher {
  if (pattern === '' || pattern === '*') return MATCH_ALL;
  const src = globToRegExpSource(pattern);
  if (src === null) return MATCH_NONE;
  const re = new RegExp(src, 'su');
  return (s) => re.test(s);
}

/** true when `pattern` is well-formed (`""` and `*` are). Requests check with this first. */
export function isValidGlob(pattern: string): boolean {
  return pattern === '' || pattern === '*' || globToRegExpSource(pattern) !== null;
}

/** Cached compile: one matcher per distinct pattern. */
export function matcherFor(pattern: string): Matcher {
  let m = cache.get(pattern);
  if (m === undefined) {
    m = compileGlob(pattern);
    setBounded(cache, pattern, m, GLOB_CACHE_MAX_PATTERNS);
  }
  return m;
}

export function globMatch(pattern: string, s: string): boolean {
  return matcherFor(pattern)(s);
}

/**
 * A SQLite GLOB pattern that matches at least what the Go glob `pattern` matches (a superset:
 * SQLite's `*` and `?` also match `/`), so SQL can discard most rows in C before the exact
 * check runs in JS. `exact`: for subjects without '/', the GLOB alone decides exactly (false when
 * a class with escapes had to be widened to `?`). `pattern` must be valid.
 */
export function sqliteGlobOf(pattern: string): { glob: string; exact: boolean } {
  let out = '';
  /** false once a class had to be widened to '?': then only the JS check is exact. */
  let exact = true;
  let i = 0;
  while (i < pattern.length) {
    const c = pattern[i]!;
    if (c === '*' || c === '?') {
      out += c;
      i++;
    } else if (c === '\\') {
      const e = pattern[i + 1]!;
      out += e === '*' || e === '?' || e === '[' ? `[${e}]` : e;
      i += 2;
    } else if (c === '[') {
      const end = pattern.indexOf(']', i + 2);
      const body = end === -1 ? '' : pattern.slice(i + 1, end);
      // Plain classes ([abc], [a-z], [^a-z]) mean the same in SQLite; anything with escapes or a
      // leading ']' becomes "any one character".
      if (end === -1 || body.includes('\\') || body === '' || body === '^') {
        out += '?';
        exact = false;
        i = skipClass(pattern, i);
      } else {
        out += `[${body}]`;
        i = end + 1;
      }
    } else {
      out += c;
      i++;
    }
  }
  return { glob: out, exact };
}

/** Index just past the class starting at `i` (the pattern is known to be valid). */
function skipClass(p: string, i: number): number {
  i++;
  if (p[i] === '^') i++;
  let n = 0;
  while (i < p.length) {
    if (p[i] === ']' && n > 0) return i + 1;
    i += p[i] === '\\' ? 2 : 1;
    n++;
  }
  return i;
}
