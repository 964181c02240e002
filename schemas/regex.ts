/**
 * The rule regex dialect, shared by the front (patterns are checked when a rule
 * is written) and the pool workers (patterns are evaluated there, off the event loop).
 *
 * RE2 → JS: leading inline flags `(?i)`, `(?s)`, `(?m)` (combined too) become flags,
 * `(?P<name>` becomes `(?<name>`, `\A` → `^`, `\z` → `$`.
 */
export function re2ToJs(pattern: string): RegExp {
  let src = pattern;
  let flags = '';
  const lead = /^\(\?([ims]+)\)/.exec(src);
  if (lead) {
    flags = [...new Set(lead[1]!.split(''))].join('');
    src = src.slice(lead[0].length);
  }
  // One pass over escapes and groups, so `\\A` (an escaped backslash, then A) stays as it is.
  src = src.replace(/\\([\s\S])|\(\?P</g, (m: string, escaped: string | undefined) => {
    if (escaped === undefined) return '(?<';
    return escaped === 'A' ? '^' : escaped === 'z' ? '$' : m;
  });
  return new RegExp(src, flags);
}

/** null if the pattern compiles, else the reason. */
export function regexError(pattern: string): string | null {
  try {
    re2ToJs(pattern);
    return null;
  } catch (e) {
    return (e as Error).message;
  }
}

/** `custom` rules: this pattern name stands for a built-in regex. */
const CUSTOM_PATTERNS: Readonly<Record<string, string>> = { 'no-console-log': 'console\\.log\\(' };

/**
 * The regex a rule evaluates, or null when its match type is not evaluated (unknown types are
 * ignored): `regex`/`missing` use the pattern, `custom` a built-in name or the pattern.
 */
export function effectiveRegex(matchType: string, pattern: string): string | null {
  if (matchType === 'regex' || matchType === 'missing') return pattern;
  if (matchType === 'custom') return CUSTOM_PATTERNS[pattern] ?? pattern;
  return null;
}
