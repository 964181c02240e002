import { fail } from '../errors.js';
import { isValidGlob } from '../shared/glob.js';
import type { Ctx } from './context.js';
import { toStorage } from '../../schemas/db/time.js';

/**
 * Query values, strictly: an absent or empty value takes its default; a value the
 * server cannot use is a 400 naming the parameter, never silently replaced by a default.
 */

/** Parses the raw query string (only called by handlers that read one). */
export function queryParams(ctx: Ctx): URLSearchParams {
  return new URLSearchParams(ctx.query);
}

/** Go strconv.Atoi: optional sign and digits only (so `1.5` is rejected). */
export function parseIntStrict(s: string): number | null {
  return /^[+-]?\d{1,15}$/.test(s) ? Number(s) : null;
}

const given = (q: URLSearchParams, name: string): string | null => {
  const v = q.get(name);
  return v === null || v === '' ? null : v;
};

/** A positive integer no larger than `max`; `def` when absent. */
export function positiveInt(q: URLSearchParams, name: string, def: number, max: number): number {
  const raw = given(q, name);
  if (raw === null) return def;
  const n = parseIntStrict(raw);
  if (n === null || n < 1) throw fail('NOT_POSITIVE_INTEGER', name);
  if (n > max) throw fail('ABOVE_MAXIMUM', name, max);
  return n;
}

/** A yes/no parameter: absent, empty, `0` or `false` is no; anything else yes (`?unread=1`). */
export function flagParam(q: URLSearchParams, name: string): boolean {
  const v = q.get(name);
  return v !== null && v !== '' && v !== '0' && v !== 'false';
}

/** An event id to resume after: a non-negative integer, or null when absent. */
export function sinceParam(raw: string | null): number | null {
  if (raw === null || raw === '') return null;
  const since = parseIntStrict(raw);
  if (since === null || since < 0) throw fail('SINCE_INVALID');
  return since;
}

/** A glob; `def` when absent; malformed → `400 "invalid pattern: <p>"`. */
export function globParam(q: URLSearchParams, name: string, def: string): string {
  const raw = given(q, name) ?? def;
  if (!isValidGlob(raw)) throw fail('INVALID_PATTERN', raw);
  return raw;
}

/** `YYYY-MM-DDTHH:MM:SS` names a real instant (Date would roll Feb 30 over into March). */
function realDateTime(s: string): boolean {
  const [y, mo, d, h, mi, se] = [s.slice(0, 4), s.slice(5, 7), s.slice(8, 10), s.slice(11, 13), s.slice(14, 16), s.slice(17, 19)].map(Number) as [number, number, number, number, number, number];
  const t = new Date(Date.UTC(y, mo - 1, d, h, mi, se));
  return t.getUTCFullYear() === y && t.getUTCMonth() === mo - 1 && t.getUTCDate() === d && t.getUTCHours() === h && t.getUTCMinutes() === mi && t.getUTCSeconds() === se;
}

const RFC3339 = /^\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)$/;
const STORAGE_FORM = /^(\d{4}-\d\d-\d\d)(?: (\d\d:\d\d:\d\d))?$/;

/**
 * An instant as storage text (`YYYY-MM-DD HH:MM:SS` UTC, 1 s precision), or null when absent.
 * Accepts RFC 3339 and, with `storageForm`, `YYYY-MM-DD[ HH:MM:SS]` read as UTC.
 */
export function instantParam(q: URLSearchParams, name: string, storageForm = false): string | null {
  let raw = given(q, name);
  if (raw === null) return null;
  // An unencoded '+' of a zone offset arrives as a space (form encoding): read it back as '+'.
  raw = raw.replace(/ (\d\d:\d\d)$/, '+$1');
  let ms = Number.NaN;
  if (RFC3339.test(raw) && realDateTime(raw.slice(0, 19))) ms = Date.parse(raw.replace(' ', 'T'));
  else if (storageForm) {
    const m = STORAGE_FORM.exec(raw);
    const text = `${m?.[1]}T${m?.[2] ?? '00:00:00'}`;
    if (m && realDateTime(text)) ms = Date.parse(`${text}Z`);
  }
  if (Number.isNaN(ms)) throw fail('INVALID_TIME', name, storageForm);
  return toStorage(ms);
}

/**
 * A fencing token: the `X-Koor-Fence` header (the route asks for it), else `?fence=`,
 * else the body's `fence`; absent = none. A non-negative integer, or a 400 naming it.
 */
export function fenceParam(ctx: Ctx, fromBody?: number): number | undefined {
  const raw = ctx.extraHeaders['x-koor-fence'] || (ctx.query === '' ? '' : (new URLSearchParams(ctx.query).get('fence') ?? ''));
  if (raw === '') return fromBody;
  const n = parseIntStrict(raw.trim());
  if (n === null || n < 0) throw fail('FENCE_INVALID', raw);
  return n;
}
