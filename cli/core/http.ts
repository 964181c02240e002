/** HTTP: one exchange over a plain socket. */
import fs from 'node:fs';
import net from 'node:net';
import { CliError, type CliConfig } from './command.js';
import { CONNECT_TIMEOUT_MS } from './config.js';
import { writeErr, type Reply } from './output.js';

/**
 * One HTTP/1.1 exchange, written straight onto a socket: `Connection: close`, the reply read by
 * Content-Length or chunked coding. Why not node:http or fetch: agents run the CLI hundreds of
 * times a session; loading node:http adds about 5 ms of CPU to every run on the dev box, and
 * fetch/undici several times that (bench/suites/cli.ts measures the whole start-up). https:// uses
 * node:tls, loaded only then. Redirects are not followed (the API never sends any).
 */

/** A reply (declared beside its printing, in output.ts: output must not import this file back). */
export type { Reply } from './output.js';

export interface RequestOptions {
  /** Sent as is; `Content-Type` defaults to application/json whenever a body is sent. */
  body?: Buffer | string;
  contentType?: string;
  headers?: Record<string, string>;
  /**
   * A write the server takes an Idempotency-Key for: sent with a fresh key (unless
   * `headers` carries one) and sent once more, under the same key, when the first try failed in
   * transit (no reply: the write may or may not have happened) or was answered 504 outcome
   * unknown — the server then answers the retry with the first write's result, never a second write.
   */
  retrySafe?: boolean;
  /**
   * Settle once the whole request is handed to the kernel, without waiting for the reply (status
   * 0, empty body): for a record that must not hold up what comes next, such as `wait --hook`'s
   * `hook.woken` before the exit that wakes the model. The server still gets the request whole.
   */
  sendOnly?: boolean;
}

/** `?a=1&b=x%20y` from the defined values, keys and values URL-encoded; '' when none. */
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

let tokenWarned = false;

export function authHeaders(config: CliConfig): Record<string, string> {
  if (config.token === '') return {};
  if (config.tokenWarning !== undefined && !tokenWarned) {
    tokenWarned = true;
    writeErr(config.tokenWarning);
  }
  return { authorization: `Bearer ${config.token}` };
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

const CRLF2 = Buffer.from('\r\n\r\n');
const LAST_CHUNK_TAIL = Buffer.from('0\r\n\r\n');

interface Head {
  status: number;
  headers: Record<string, string>;
  /** Offset of the body in the received bytes. */
  bodyStart: number;
}

/** The status line and headers, once all of them have arrived (null before). */
export function parseHead(buf: Buffer): Head | null {
  const end = buf.indexOf(CRLF2);
  if (end === -1) return null;
  const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]!);
  if (!m) throw new Error('malformed HTTP response');
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const i = line.indexOf(':');
    if (i <= 0) continue;
    const name = line.slice(0, i).trim().toLowerCase();
    const value = line.slice(i + 1).trim();
    headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
  }
  return { status: Number(m[1]), headers, bodyStart: end + 4 };
}

/** Decodes a complete chunked body (extensions and trailers ignored); null if incomplete. */
export function decodeChunked(buf: Buffer): Buffer | null {
  const parts: Buffer[] = [];
  let i = 0;
  for (;;) {
    const eol = buf.indexOf('\r\n', i);
    if (eol === -1) return null;
    const size = parseInt(buf.subarray(i, eol).toString('latin1').split(';')[0]!.trim(), 16);
    if (!Number.isFinite(size) || size < 0) throw new Error('malformed chunked body');
    if (size === 0) return Buffer.concat(parts);
    if (eol + 2 + size + 2 > buf.length) return null;
    parts.push(buf.subarray(eol + 2, eol + 2 + size));
    i = eol + 2 + size + 2;
  }
}

/** The complete reply in `buf`, or null while more bytes are due (`ended`: the peer closed). */
export function parseReply(buf: Buffer, ended: boolean): Reply | null {
  const head = parseHead(buf);
  if (head === null) {
    if (ended) throw new Error(buf.length === 0 ? 'connection closed without a reply' : 'malformed HTTP response');
    return null;
  }
  const raw = buf.subarray(head.bodyStart);
  const done = (body: Buffer): Reply => ({ status: head.status, headers: head.headers, body });
  if (head.status === 204 || head.status === 304 || (head.status >= 100 && head.status < 200)) return done(Buffer.alloc(0));
  if (/\bchunked\b/i.test(head.headers['transfer-encoding'] ?? '')) {
    if (!ended && !raw.subarray(-LAST_CHUNK_TAIL.length).equals(LAST_CHUNK_TAIL)) return null;
    const body = decodeChunked(raw);
    if (body === null) {
      if (ended) throw new Error('connection closed mid-reply');
      return null;
    }
    return done(body);
  }
  const cl = head.headers['content-length'];
  if (cl !== undefined) {
    const len = Number(cl);
    if (!Number.isSafeInteger(len) || len < 0) throw new Error('malformed Content-Length');
    if (raw.length >= len) return done(raw.subarray(0, len));
    if (ended) throw new Error('connection closed mid-reply');
    return null;
  }
  return ended ? done(raw) : null;
}

/** `pathAndQuery` starts with `/`. Transport failures throw `request failed: <reason>`. */
export async function request(config: CliConfig, method: string, pathAndQuery: string, opts: RequestOptions = {}): Promise<Reply> {
  if (!opts.retrySafe) return exchange(config, method, pathAndQuery, opts);
  const keyed = opts.headers?.['idempotency-key'] === undefined ? { ...opts, headers: { ...opts.headers, 'idempotency-key': globalThis.crypto.randomUUID() } } : opts;
  let first: Reply;
  try {
    first = await exchange(config, method, pathAndQuery, keyed);
  } catch (e) {
    if (!(e instanceof CliError) || !e.message.startsWith('request failed:')) throw e;
    return exchange(config, method, pathAndQuery, keyed);
  }
  return first.status === 504 ? exchange(config, method, pathAndQuery, keyed) : first;
}

/** One exchange (see `request`). */
async function exchange(config: CliConfig, method: string, pathAndQuery: string, opts: RequestOptions): Promise<Reply> {
  const base = parseServer(config);
  // The request target is concatenated, never parsed as a URL: WHATWG URL parsing would resolve
  // `.`/`..` segments, and a state key may well be `a/../b`.
  const target = base.pathname.replace(/\/+$/, '') + pathAndQuery;
  const tls = base.protocol === 'https:';
  const host = base.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = Number(base.port) || (tls ? 443 : 80);
  const headers: Record<string, string> = { host: base.host, 'user-agent': 'koor-cli', accept: '*/*', connection: 'close', ...authHeaders(config), ...opts.headers };
  if (config.instance !== '') headers['x-koor-instance'] = config.instance;
  let body: Buffer | undefined;
  if (opts.body !== undefined) {
    body = typeof opts.body === 'string' ? Buffer.from(opts.body) : opts.body;
    headers['content-type'] = opts.contentType ?? 'application/json';
  }
  if (body !== undefined || method === 'POST' || method === 'PUT') headers['content-length'] = String(body?.length ?? 0);
  let requestHead = `${method} ${target} HTTP/1.1\r\n`;
  for (const [k, v] of Object.entries(headers)) {
    if (/[\r\n]/.test(v)) throw new CliError(`invalid ${k} header value`);
    requestHead += `${k}: ${v}\r\n`;
  }
  const ca = tls ? serverCa(config) : undefined;
  const socket = tls ? (await import('node:tls')).connect({ host, port, servername: net.isIP(host) ? undefined : host, ...(ca === undefined ? {} : { ca }) }) : net.connect({ host, port });
  return new Promise<Reply>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    let head: Head | null = null;
    let settled = false;
    // Two clocks: connecting, then the whole reply. Neither keeps the process alive on its own.
    const seconds = (ms: number) => `${Number((ms / 1000).toFixed(3))}s`;
    const connectTimer = setTimeout(() => fail(new Error(`timeout after ${seconds(CONNECT_TIMEOUT_MS)} connecting to ${base.host}`)), CONNECT_TIMEOUT_MS);
    const replyTimer = setTimeout(() => fail(new Error(`timeout after ${seconds(config.timeoutMs)}`)), config.timeoutMs);
    connectTimer.unref();
    replyTimer.unref();
    socket.once('connect', () => clearTimeout(connectTimer));
    let secured = false;
    if (tls) socket.once('secureConnect', () => (secured = true));
    const fail = (e: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(connectTimer);
      clearTimeout(replyTimer);
      socket.destroy();
      // A TLS connection that closed before its handshake was done: the server does not speak TLS there.
      if (tls && !secured && !isCertificateError(e) && /closed without a reply|ECONNRESET|socket hang up|disconnected before secure/i.test(describeError(e) + String((e as { code?: unknown } | null)?.code ?? ''))) {
        return reject(new CliError(`request failed: TLS mismatch: the server at ${base.host} does not speak TLS (it closed the connection during the TLS handshake): use http://${base.host}${base.pathname.replace(/\/+$/, '')}`));
      }
      reject(new CliError(`request failed: ${describeError(e)}${tlsHint(e, config)}`));
    };
    const bytesSoFar = () => {
      const buf = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, received);
      chunks.length = 0;
      chunks.push(buf);
      return buf;
    };
    const finish = (ended: boolean) => {
      if (settled) return;
      try {
        const reply = parseReply(bytesSoFar(), ended);
        if (reply === null) return;
        settled = true;
        clearTimeout(connectTimer);
        clearTimeout(replyTimer);
        socket.destroy();
        resolve(reply);
      } catch (e) {
        fail(e);
      }
    };
    socket.on('data', (d: Buffer) => {
      chunks.push(d);
      received += d.length;
      // Parse the head once; after that only look again when the body can be complete.
      if (head === null) {
        try {
          head = parseHead(bytesSoFar());
        } catch (e) {
          return fail(e);
        }
        if (head !== null) finish(false);
        return;
      }
      const cl = Number(head.headers['content-length']);
      if (Number.isFinite(cl) ? received >= head.bodyStart + cl : d.subarray(-LAST_CHUNK_TAIL.length).equals(LAST_CHUNK_TAIL)) finish(false);
    });
    socket.on('end', () => finish(true));
    socket.on('error', fail);
    socket.on('close', () => finish(true));
    // A write that failed leaves the failure to the socket's 'error' (the request was not sent).
    const sent = (err?: Error | null) => {
      if (!opts.sendOnly || settled || err) return;
      settled = true;
      clearTimeout(connectTimer);
      clearTimeout(replyTimer);
      // A FIN after the request: the server reads all of it, then its reply has nowhere to go.
      socket.end();
      resolve({ status: 0, headers: {}, body: Buffer.alloc(0) });
    };
    socket.write(requestHead + '\r\n', body !== undefined && body.length > 0 ? undefined : sent);
    if (body !== undefined && body.length > 0) socket.write(body, sent);
  });
}

let caRead: { file: string; pem: string } | null = null;

/**
 * The `ca` of a TLS connection to the server: the certificates of KOOR_CA_FILE / `ca_file`, read
 * once; undefined = Node's own trust. They replace Node's public CAs rather than join them (as
 * curl --cacert does): adding ~140 public roots to every connection costs ~25 ms a run, and the
 * file is there for a server whose certificate no public CA signed.
 */
export function serverCa(config: CliConfig): string | undefined {
  if (config.caFile === '') return undefined;
  if (caRead?.file !== config.caFile) {
    let pem: string;
    try {
      pem = fs.readFileSync(config.caFile, 'utf8');
    } catch (e) {
      throw new CliError(`cannot read the CA file ${config.caFile} (KOOR_CA_FILE / ca_file): ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : describeError(e)}`);
    }
    if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new CliError(`the CA file ${config.caFile} (KOOR_CA_FILE / ca_file) holds no PEM certificate`);
    caRead = { file: config.caFile, pem };
  }
  return caRead.pem;
}

/** Node's (OpenSSL's) codes for a server certificate that is not trusted or does not fit. */
const CERT_ERROR = /^(DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_(GET_ISSUER_CERT(_LOCALLY)?|VERIFY_LEAF_SIGNATURE)|CERT_[A-Z_]+|ERR_TLS_CERT_ALTNAME_INVALID)$/;

/** The server's certificate was refused: nothing a retry changes. */
export function isCertificateError(e: unknown): boolean {
  return CERT_ERROR.test(String((e as { code?: unknown } | null)?.code ?? ''));
}

/** What to do about a TLS failure, appended to its message ('' for other failures). */
export function tlsHint(e: unknown, config: CliConfig): string {
  const code = String((e as { code?: unknown } | null)?.code ?? '');
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return ' (the certificate does not name this host: use the name or address it was made for)';
  if (CERT_ERROR.test(code)) {
    return config.caFile === ''
      ? ' (the server certificate is not trusted: set KOOR_CA_FILE, or ca_file in settings.json, to the PEM file of its CA or self-signed certificate)'
      : ` (the server certificate is not vouched for by the CA file ${config.caFile})`;
  }
  if (config.server.startsWith('http:') && (e as Error | null)?.message === 'connection closed without a reply') return ' (if the server serves TLS, use https://)';
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || /wrong version number/i.test((e as Error | null)?.message ?? '')) return ' (the server does not speak TLS here: try http://)';
  return '';
}

/** Node's happy-eyeballs connect failure is an AggregateError with an empty message. */
export function describeError(e: unknown): string {
  if (e instanceof AggregateError && e.errors.length > 0) {
    return [...new Set(e.errors.map((x: unknown) => describeError(x)))].join('; ');
  }
  if (e instanceof Error) return e.message !== '' ? e.message : ((e as NodeJS.ErrnoException).code ?? e.name);
  return String(e);
}

/**
 * Inside a Claude Code or Codex session (its shell tool's environment names the session:
 * CLAUDE_CODE_SESSION_ID, CODEX_SESSION_ID) and with no agent named (--instance, KOOR_INSTANCE),
 * the agent is the one Koor's hooks bound to that session: the model runs
 * `koor-cli inbox` as itself without an id in its context.
 * One lookup per run; the config as it was when there is no such binding (or no server).
 */
export async function sessionAgent(config: CliConfig, env: NodeJS.ProcessEnv): Promise<CliConfig> {
  const session = env.CLAUDE_CODE_SESSION_ID || env.CODEX_SESSION_ID || env.COPILOT_AGENT_SESSION_ID;
  if (config.instance !== '' || session === undefined || session === '') return config;
  try {
    const r = await Promise.race([
      request(config, 'GET', `/api/hooks/claude-code/sessions/${encodeURIComponent(session)}`),
      new Promise<null>((resolve) => setTimeout(() => resolve(null), 2000).unref()),
    ]);
    if (r === null || r.status !== 200) return config;
    const id = (JSON.parse(r.body.toString('utf8')) as { instance_id?: unknown }).instance_id;
    return typeof id === 'string' && id !== '' ? { ...config, instance: id } : config;
  } catch {
    return config;
  }
}

