/**
 * Glob matching as Go's path.Match (SPEC §1.6): `*` = any run of non-'/' characters (it crosses
 * '.'), `?` = one non-'/' character, `[abc]`, `[a-z]`, `[^a-z]` classes, `\x` = literal x.
 * Whole-string match. A malformed pattern matches nothing and never throws. `""` and `*` match
 * everything (the event-bus convention for "all topics").
 */
export type Matcher = (s: string) => boolean;

const MATCH_ALL: Matcher = () => true;
const MATCH_NONE: Matcher = () => false;
/** Compiled patterns kept; beyond this the cache is reset (patterns come from clients). */
const MAX_CACHED_PATTERNS = 4096;
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

/** Cached compile: one matcher per distinct pattern. */
export function matcherFor(pattern: string): Matcher {
  let m = cache.get(pattern);
  if (m === undefined) {
    if (cache.size >= MAX_CACHED_PATTERNS) cache.clear();
    m = compileGlob(pattern);
    cache.set(pattern, m);
  }
  return m;
}

export function globMatch(pattern: string, s: string): boolean {
  return matcherFor(pattern)(s);
}
