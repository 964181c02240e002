import { fail } from '../../errors.js';
import { checkName } from '../../names.js';
import { isValidGlob } from '../../shared/glob.js';
import { isValidPathGlob } from '../../shared/path-glob.js';
import { TOKEN_TTL_MAX_MS } from '../../shared/limits-features.js';

/** The kinds of scope a created token may carry. */
const SCOPE_KINDS = ['project', 'state', 'topic', 'path'] as const;

/**
 * Checks each scope's syntax: `project:<name>`, `state:<key glob>` (a path glob, `**` allowed),
 * `topic:<event glob>`, `path:<file glob>` (the files it may lease, a path glob). Unknown kinds are one 400 naming them all; a malformed value is a 400
 * naming the scope. Returns the scopes without duplicates, in the order given.
 */
export function checkScopes(scopes: readonly string[]): string[] {
  const unknown = new Set<string>();
  for (const s of scopes) {
    const colon = s.indexOf(':');
    const kind = colon < 0 ? s : s.slice(0, colon);
    if (!(SCOPE_KINDS as readonly string[]).includes(kind)) unknown.add(kind === '' ? '""' : kind);
  }
  if (unknown.size > 0) throw fail('TOKEN_SCOPE_KINDS_UNKNOWN', [...unknown]);
  for (const s of scopes) {
    const colon = s.indexOf(':');
    const kind = s.slice(0, colon);
    const value = s.slice(colon + 1);
    if (colon < 0 || value === '') throw fail('TOKEN_SCOPE_INVALID', s, `expected ${kind}:<${kind === 'project' ? 'name' : 'glob'}>`);
    checkName(value, 'scope');
    if (kind === 'project' && /[*?[\]{}]/.test(value)) throw fail('TOKEN_SCOPE_INVALID', s, 'a project is a name, not a glob');
    if (kind === 'state' && !isValidPathGlob(value)) throw fail('TOKEN_SCOPE_INVALID', s, 'not a key glob');
    if (kind === 'path' && !isValidPathGlob(value)) throw fail('TOKEN_SCOPE_INVALID', s, 'not a path glob');
    if (kind === 'topic' && !isValidGlob(value)) throw fail('TOKEN_SCOPE_INVALID', s, 'not a topic glob');
  }
  return [...new Set(scopes)];
}

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A token's ttl: seconds (a number or digits) or a duration like `90d`, `12h`, `30m`, `1h30m`; null/absent = never expires. */
export function parseTtl(ttl: unknown): number | null {
  if (ttl === undefined || ttl === null) return null;
  const text = String(ttl);
  let ms = NaN;
  if (typeof ttl === 'number' || /^\d+$/.test(text)) ms = Number(text) * 1000;
  else if (typeof ttl === 'string') {
    const re = /(\d+)(s|m|h|d)/gy;
    let total = 0;
    let end = 0;
    for (let m = re.exec(text); m; m = re.exec(text)) {
      total += Number(m[1]) * UNITS[m[2]!]!;
      end = re.lastIndex;
    }
    if (end === text.length && text.length > 0) ms = total;
  }
  if (!Number.isFinite(ms) || ms < 1000 || ms > TOKEN_TTL_MAX_MS || !Number.isInteger(ms)) throw fail('TOKEN_TTL_INVALID', text);
  return ms;
}
