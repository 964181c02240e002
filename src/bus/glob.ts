import { GLOB_CACHE_MAX_PATTERNS } from '../limits.js';

/**
 * Glob matching as Go's path.Match (SPEC §1.6): `*` = any run of non-'/' characters (it crosses
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

/** Translates a Go glob to an anchored RegExp source, or null if the pattern is malformed. */
export function globToRegExpSource(p: string): string | null {
  let out = '';
  let i = 0;
  while (i < p.length) {
    const c = p.codePointAt(i)!;
    const w = c > 0xffff ? 2 : 1;
    if (c === 0x2a /* * */) {
      out += '[^/]*';
      i += 1;
    } else if (c === 0x3f /* ? */) {
      out += '[^/]';
      i += 1;
    } else if (c === 0x5c /* \ */) {
      if (i + 1 >= p.length) return null;
      const e = p.codePointAt(i + 1)!;
      out += reEscape(e);
      i += 1 + (e > 0xffff ? 2 : 1);
    } else if (c === 0x5b /* [ */) {
      i += 1;
      let negated = false;
      if (p[i] === '^') {
        negated = true;
        i += 1;
      }
      let ranges = '';
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
        // Go accepts lo > hi and simply never matches it; a JS range would throw.
        if (lo.cp <= hi) ranges += lo.cp === hi ? reEscape(lo.cp) : `${reEscape(lo.cp)}-${reEscape(hi)}`;
        n++;
      }
      out += negated ? `[^${ranges}]` : ranges === '' ? '(?!)' : `[${ranges}]`;
    } else {
      out += reEscape(c);
      i += w;
    }
  }
  return `^${out}$`;
}

export function compileGlob(pattern: string): Matcher {
  if (pattern === '' || pattern === '*') return MATCH_ALL;
  const src = globToRegExpSource(pattern);
  if (src === null) return MATCH_NONE;
  const re = new RegExp(src, 'su');
  return (s) => re.test(s);
}

/** true when `pattern` is well-formed (`""` and `*` are). Requests check with this first (§7-24). */
export function isValidGlob(pattern: string): boolean {
  return pattern === '' || pattern === '*' || globToRegExpSource(pattern) !== null;
}

/** Cached compile: one matcher per distinct pattern. */
export function matcherFor(pattern: string): Matcher {
  let m = cache.get(pattern);
  if (m === undefined) {
    if (cache.size >= GLOB_CACHE_MAX_PATTERNS) cache.clear();
    m = compileGlob(pattern);
    cache.set(pattern, m);
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
