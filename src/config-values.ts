/*
 * The values of koor-server's settings as text (./config.ts reads them from flags, env and
 * settings.json): an address, a duration, an age, a byte count, a database URL; each a
 * ConfigError naming the setting when it does not parse.
 */

export interface Bind {
  /** Host as given ('' = all interfaces). */
  host: string;
  port: number;
  /** The original text, e.g. "localhost:9800" (used verbatim in get_endpoints.api_base). */
  text: string;
}

export class ConfigError extends Error {
  constructor(
    message: string,
    readonly exitCode: 1 | 2 = 1,
  ) {
    super(message);
    this.name = 'ConfigError';
  }
}

export function parseBind(text: string, what: string): Bind {
  const m = /^(\[[^\]]*\]|[^:]*):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[2]) : NaN;
  if (!m || !(port >= 0 && port <= 65535)) {
    throw new ConfigError(`invalid ${what} "${text}": expected host:port`);
  }
  let host = m[1]!;
  if (host.startsWith('[')) host = host.slice(1, -1);
  return { host, port, text };
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Go-style duration ("500ms", "60s", "5m", "1h30m"); a bare number is seconds. */
export function parseDuration(text: string, what: string): number {
  if (/^\d+(\.\d+)?$/.test(text)) return capped(Math.round(Number(text) * 1000), text, what);
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy;
  let total = 0;
  let end = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    total += Number(m[1]) * DURATION_UNITS[m[2]!]!;
    end = re.lastIndex;
  }
  if (end !== text.length || text.length === 0) throw new ConfigError(`invalid ${what} "${text}": expected a duration like 500ms, 60s, 5m`);
  return capped(Math.round(total), text, what);
}

/** Node fires a timer longer than 2^31-1 ms at once (and a repeating one in a loop): refuse it. */
const MAX_DURATION_MS = 2 ** 31 - 1;
function capped(ms: number, text: string, what: string): number {
  if (ms > MAX_DURATION_MS) throw new ConfigError(`invalid ${what} "${text}": at most 596h (the longest timer Node can run)`);
  return ms;
}

/** A retention age: a duration with `d` (days) allowed too ("90d", "12h", "0" = keep all); no timer cap. */
export function parseAge(text: string, what: string): number {
  if (/^\d+$/.test(text.trim()) && Number(text) === 0) return 0;
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy;
  const units: Record<string, number> = { ...DURATION_UNITS, d: 86_400_000 };
  let total = 0;
  let end = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    total += Number(m[1]) * units[m[2]!]!;
    end = re.lastIndex;
  }
  if (end !== text.length || text.length === 0) throw new ConfigError(`invalid ${what} "${text}": expected an age like 90d, 12h, 30m (0 = keep all)`);
  return Math.round(total);
}

/**
 * '' (embedded SQLite) or a PostgreSQL connection URL, passed to the client as given: a host list
 * (`postgres://u:p@h1:5432,h2:5432/koor?target_session_attrs=primary`) is valid, so this checks
 * the scheme and that a host is named, not what WHATWG URL parsing accepts.
 */
export function parseDatabaseUrl(text: string, what: string): string {
  if (text === '') return '';
  const m = /^(postgres|postgresql):\/\/(?:[^@/?#]*@)?([^/?#]*)/.exec(text);
  if (!m) throw new ConfigError(`invalid ${what} "${redactUrl(text)}": only PostgreSQL URLs are supported, like postgres://user:password@host:5432/koor`);
  if (m[2] === '') throw new ConfigError(`invalid ${what} "${redactUrl(text)}": the URL names no host`);
  return text;
}

/** A database URL fit for logs and error lines: the password replaced by `***`. */
export function redactUrl(text: string): string {
  return text.replace(/^([a-z]+:\/\/[^:/@]*):[^@/]*@/i, '$1:***@');
}

export function parseBytes(text: string, what: string): number {
  const m = /^(\d+)([kmg]?)(i?b)?$/i.exec(text.trim());
  if (!m) throw new ConfigError(`invalid ${what} "${text}": expected bytes like 10485760, 64k, 10m`);
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2]!.toLowerCase()]!;
  const n = Number(m[1]) * mult;
  if (n < 1) throw new ConfigError(`invalid ${what} "${text}": must be positive`);
  return n;
}

export function parseInt0(text: string, what: string): number {
  if (!/^\d+$/.test(text.trim())) throw new ConfigError(`invalid ${what} "${text}": expected a non-negative integer`);
  return Number(text);
}

/** A comma-separated list ("a, b,c"): entries trimmed, empty ones dropped; '' = none. */
function parseList(text: string): string[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/**
 * Host names (`--allowed-hosts`), as a Host header names them without its port: lowercase, an IPv6
 * address in brackets; a port given is dropped (any port is served). `*` = any.
 */
export function parseHosts(text: string, what: string): readonly string[] {
  return Object.freeze(
    parseList(text).map((entry) => {
      if (entry === '*') return entry;
      const name = hostName(entry.toLowerCase());
      if (name === null || /[\s/@?#]/.test(name)) throw new ConfigError(`invalid ${what} entry "${entry}": expected a host name like koor.example.com (any port), [::1], or *`);
      return name;
    }),
  );
}

/** The name of a Host header value without its port (`[::1]:9800` → `[::1]`), or null when it is none. */
export function hostName(host: string): string | null {
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    if (end < 0 || (end + 1 < host.length && !/^:\d{1,5}$/.test(host.slice(end + 1)))) return null;
    return host.slice(0, end + 1);
  }
  const colon = host.indexOf(':');
  if (colon < 0) return host === '' ? null : host;
  // A bare IPv6 address (several colons) in a setting: the header form is bracketed.
  if (host.indexOf(':', colon + 1) >= 0) return `[${host}]`;
  if (!/^\d{1,5}$/.test(host.slice(colon + 1)) || colon === 0) return null;
  return host.slice(0, colon);
}

/**
 * Browser origins (`--allowed-origins`) as a browser sends them: `scheme://host[:port]`, lowercase,
 * no path or trailing slash (one given is dropped). `*` = any.
 */
export function parseOrigins(text: string, what: string): readonly string[] {
  return Object.freeze(
    parseList(text).map((entry) => {
      if (entry === '*') return entry;
      const m = /^([a-z][a-z0-9+.-]*):\/\/([^/?#@\s]+)\/?$/i.exec(entry);
      if (!m || hostName(m[2]!.toLowerCase()) === null) throw new ConfigError(`invalid ${what} entry "${entry}": expected an origin like https://koor.example.com or http://localhost:5173, or *`);
      return `${m[1]!.toLowerCase()}://${m[2]!.toLowerCase()}`;
    }),
  );
}
