/**
 * RE2 → JS regex (SPEC §7-9): leading inline flags `(?i)`, `(?s)`, `(?m)` (combined too) become
 * flags, `(?P<name>` becomes `(?<name>`, `\A` → `^`, `\z` → `$`.
 */
export function re2ToJs(pattern: string): RegExp {
  let src = pattern;
  let flags = '';
  const lead = /^\(\?([ims]+)\)/.exec(src);
  if (lead) {
    flags = [...new Set(lead[1]!.split(''))].join('');
    src = src.slice(lead[0].length);
  }
  src = src.replace(/\(\?P</g, '(?<').replace(/\\A/g, '^').replace(/\\z/g, '$');
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
