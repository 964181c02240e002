import http from 'node:http';
import { CliError } from './command.js';
import type { CliConfig } from './config.js';

/**
 * One HTTP exchange over node:http (measurably quicker to load than global fetch/undici, and the
 * CLI runs hundreds of times a session). https:// servers load node:https on demand.
 */

export interface Reply {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
}

export interface RequestOptions {
  /** Sent as is; `Content-Type` defaults to application/json whenever a body is sent (SPEC §4.1). */
  body?: Buffer | string;
  contentType?: string;
  headers?: Record<string, string>;
}

/** `?a=1&b=x%20y` from the defined values, keys and values URL-encoded (SPEC §7-14); '' when none. */
export function query(params: Record<string, string | number | undefined>): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined) continue;
    parts.push(`${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`);
  }
  return parts.length === 0 ? '' : `?${parts.join('&')}`;
}

/** A state key as a path: each `/`-separated segment encoded, slashes kept (the server decodes). */
export function keyPath(key: string): string {
  return key.split('/').map(encodeURIComponent).join('/');
}

/** One path segment (project, name, id), fully encoded. */
export function seg(s: string): string {
  return encodeURIComponent(s);
}

export function authHeaders(config: CliConfig): Record<string, string> {
  return config.token === '' ? {} : { authorization: `Bearer ${config.token}` };
}

export function parseServer(config: CliConfig): URL {
  let base: URL;
  try {
    base = new URL(config.server);
  } catch {
    throw new CliError(`invalid server URL: ${config.server}`);
  }
  if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new CliError(`invalid server URL: ${config.server} (http or https only)`);
  return base;
}

/** `pathAndQuery` starts with `/`. Transport failures throw `request failed: <reason>`. */
export async function request(config: CliConfig, method: string, pathAndQuery: string, opts: RequestOptions = {}): Promise<Reply> {
  parseServer(config);
  const url = new URL(config.server + pathAndQuery);
  const headers: Record<string, string> = { ...authHeaders(config), ...opts.headers };
  let body: Buffer | undefined;
  if (opts.body !== undefined) {
    body = typeof opts.body === 'string' ? Buffer.from(opts.body) : opts.body;
    headers['content-type'] = opts.contentType ?? 'application/json';
    headers['content-length'] = String(body.length);
  }
  const mod: typeof http = url.protocol === 'https:' ? ((await import('node:https')) as unknown as typeof http) : http;
  return new Promise<Reply>((resolve, reject) => {
    const fail = (e: Error) => reject(new CliError(`request failed: ${describeError(e)}`));
    // agent:false → one connection, closed after the reply: nothing keeps the process alive.
    const req = mod.request(url, { method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', fail);
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', fail);
    req.end(body);
  });
}

/** Node's happy-eyeballs connect failure is an AggregateError with an empty message. */
export function describeError(e: unknown): string {
  if (e instanceof AggregateError && e.errors.length > 0) {
    return [...new Set(e.errors.map((x: unknown) => describeError(x)))].join('; ');
  }
  if (e instanceof Error) return e.message !== '' ? e.message : ((e as NodeJS.ErrnoException).code ?? e.name);
  return String(e);
}
