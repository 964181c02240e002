/**
 * The koor-cli runtime: everything a command needs on its way to the server and back, in ONE
 * module. That is deliberate: agents run the CLI hundreds of times a session, and every extra
 * ES module on the start path costs measurable time (module resolution, an async file read, a
 * compile; see bench/cli.ts). The start path is main.js → core.js + registry.js → one file of
 * commands/. clipanion (help and usage), the WebSocket subscriber and `init` load only when used.
 */
import fs from 'node:fs';
import net from 'node:net';

// -----------------------------------------------------------------------------------------------
// Commands: the one definition of a command, and the errors a command may throw

/**
 * The one definition of a command. Each file in cli/commands/ default-exports one of these.
 * Two dispatchers read it: the fast path in main.ts (no clipanion loaded) and clipanion.ts,
 * which turns it into a clipanion Command class for --help, usage errors and anything the fast
 * parser refuses. Neither re-declares a command's options.
 */

export interface PositionalSpec {
  readonly name: string;
  /** Only the last positional may be optional. */
  readonly optional?: boolean;
}

export interface OptionSpec {
  readonly description: string;
  /** A flag without a value (`--all`); otherwise `--name value`. */
  readonly boolean?: boolean;
  /** Missing → usage error. */
  readonly required?: boolean;
}

type PosValues<P extends readonly PositionalSpec[]> = {
  [K in P[number] as K['name']]: K extends { optional: true } ? string | undefined : string;
};
type OptValues<O extends Record<string, OptionSpec>> = {
  [K in keyof O]: O[K] extends { boolean: true } ? boolean : O[K] extends { required: true } ? string : string | undefined;
};

export interface RunContext {
  readonly config: CliConfig;
  /** `--pretty` appeared anywhere on the command line. */
  readonly pretty: boolean;
  readonly cwd: string;
}

export interface RunInput<P extends readonly PositionalSpec[], O extends Record<string, OptionSpec>> {
  readonly pos: PosValues<P>;
  readonly opt: OptValues<O>;
  /** Tokens the parser did not use (unknown flags and their values), for error messages. */
  readonly ignored: readonly string[];
  readonly ctx: RunContext;
}

export interface CommandDef<P extends readonly PositionalSpec[] = readonly PositionalSpec[], O extends Record<string, OptionSpec> = Record<string, OptionSpec>> {
  readonly description: string;
  readonly details?: string;
  readonly examples?: ReadonlyArray<readonly [string, string]>;
  readonly positionals: P;
  readonly options: O;
  /** Resolves to the process exit code. Throws CliError / UsageError for local failures. */
  run(input: RunInput<P, O>): Promise<number>;
}

/** Identity helper that keeps the literal types of positionals and options for `run`. */
export function defineCommand<const P extends readonly PositionalSpec[], const O extends Record<string, OptionSpec>>(def: CommandDef<P, O>): CommandDef<P, O> {
  return def;
}

/** A local failure: printed as one `error: <message>` line on stderr, exit 1. */
export class CliError extends Error {
  override readonly name = 'CliError';
}

/** A command-line mistake found while running: `error: <message>` plus the command's usage line, exit 1. */
export class UsageError extends CliError {}

/** Untyped view used by the dispatchers. */
export interface AnyCommandDef {
  readonly description: string;
  readonly details?: string;
  readonly examples?: ReadonlyArray<readonly [string, string]>;
  readonly positionals: readonly PositionalSpec[];
  readonly options: Record<string, OptionSpec>;
  run(input: {
    pos: Record<string, string | undefined>;
    opt: Record<string, string | boolean | undefined>;
    ignored: readonly string[];
    ctx: RunContext;
  }): Promise<number>;
}

// -----------------------------------------------------------------------------------------------
// Config: ./settings.json and the environment (SPEC §4.1)

/** SPEC §4.1: `./settings.json` in the current directory, shared with the server's keys. */
export const SETTINGS_FILE = 'settings.json';
export const DEFAULT_SERVER = 'http://localhost:9800';
export const CONFIG_KEYS = ['server', 'token'] as const;
/** A server that accepts no connection within this is reported, ms. */
export const CONNECT_TIMEOUT_MS = 5_000;
/** A reply that has not fully arrived this long after the request is reported (KOOR_TIMEOUT), ms. */
export const DEFAULT_RESPONSE_TIMEOUT_MS = 30_000;
export type ConfigKey = (typeof CONFIG_KEYS)[number];

export interface CliConfig {
  /** Base URL without a trailing `/`. */
  readonly server: string;
  /** '' = no Authorization header. */
  readonly token: string;
  /** Whole-reply timeout, ms (KOOR_TIMEOUT in seconds; default 30). */
  readonly timeoutMs: number;
  /** The agent this CLI speaks for (KOOR_INSTANCE, or `--instance` where a command has it): sent as X-Koor-Instance; '' = none. */
  readonly instance: string;
}

function nonEmptyString(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** The parsed settings file, or null when absent or not a JSON object ("bad file = absent"). */
function readSettings(file: string): Record<string, unknown> | null {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
  try {
    const v: unknown = JSON.parse(text);
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** Per key: env (non-empty) > file (non-empty) > default. */
export function loadConfig(cwd: string, env: NodeJS.ProcessEnv): CliConfig {
  const file = readSettings(`${cwd}/${SETTINGS_FILE}`) ?? {};
  const server = nonEmptyString(env.KOOR_SERVER) ?? nonEmptyString(file.server) ?? DEFAULT_SERVER;
  const token = nonEmptyString(env.KOOR_TOKEN) ?? nonEmptyString(file.token) ?? '';
  let timeoutMs = DEFAULT_RESPONSE_TIMEOUT_MS;
  const t = nonEmptyString(env.KOOR_TIMEOUT);
  if (t !== undefined) {
    const s = Number(t);
    // Node timers hold at most 2^31-1 ms (~24.8 days); beyond, they fire at once.
    if (!/^\d+(\.\d+)?$/.test(t) || !(s > 0) || s * 1000 > 2_147_483_647) throw new CliError(`invalid KOOR_TIMEOUT "${t}": expected seconds, e.g. 30 (at most 2147483)`);
    timeoutMs = s * 1000;
  }
  return { server: server.replace(/\/+$/, ''), token, timeoutMs, instance: nonEmptyString(env.KOOR_INSTANCE) ?? '' };
}

/**
 * Sets keys in ./settings.json, keeping every other key (the server's too): 2-space JSON, mode 0600,
 * written to a temp file and renamed so a crash never leaves half a file. A file that exists but is
 * not a JSON object is refused rather than overwritten (it may be a hand-edited server config).
 */
export function updateSettings(cwd: string, values: Partial<Record<ConfigKey, string>>): void {
  const file = `${cwd}/${SETTINGS_FILE}`;
  let current: Record<string, unknown> = {};
  let text: string | null = null;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new CliError(`cannot read ${SETTINGS_FILE}: ${(e as Error).message}`);
  }
  if (text !== null && text.trim() !== '') {
    const parsed = readSettings(file);
    if (parsed === null) throw new CliError(`${SETTINGS_FILE} is not a JSON object; fix or remove it first`);
    current = parsed;
  }
  const next = { ...current, ...values };
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    fs.writeFileSync(tmp, JSON.stringify(next, null, 2) + '\n', { mode: 0o600 });
    fs.chmodSync(tmp, 0o600);
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw new CliError(`cannot write ${SETTINGS_FILE}: ${(e as Error).message}`);
  }
}

// -----------------------------------------------------------------------------------------------
// Arguments: the fast-path parser

/** The fast parser refused the command line; main.ts hands it to clipanion to explain. */
export class ParseError extends Error {
  override readonly name = 'ParseError';
}

export interface Parsed {
  pos: Record<string, string | undefined>;
  opt: Record<string, string | boolean | undefined>;
  ignored: string[];
}

/**
 * SPEC §4.1 parsing, for the fast path: positionals in order; `--name value` (also `--name=value`);
 * later repeats win; unknown `--flags` are ignored together with their value (the next token
 * unless it starts with `-`); `--` ends the flags. Anything it cannot accept (a missing positional
 * or required flag, a flag without its value, an extra positional) throws ParseError and the same
 * command line is given to clipanion, which reports it as a usage error.
 */
export function parseArgs(def: AnyCommandDef, tokens: readonly string[]): Parsed {
  const pos: Record<string, string | undefined> = {};
  const opt: Record<string, string | boolean | undefined> = {};
  const ignored: string[] = [];
  const positionals: string[] = [];
  let flagsDone = false;
  for (let i = 0; i < tokens.length; i++) {
    const tok = tokens[i]!;
    if (flagsDone || !tok.startsWith('--') || tok === '--') {
      if (!flagsDone && tok === '--') {
        flagsDone = true;
        continue;
      }
      positionals.push(tok);
      continue;
    }
    const eq = tok.indexOf('=');
    const name = eq === -1 ? tok.slice(2) : tok.slice(2, eq);
    const spec = Object.hasOwn(def.options, name) ? def.options[name] : undefined;
    if (spec === undefined) {
      ignored.push(tok);
      if (eq === -1 && i + 1 < tokens.length && !tokens[i + 1]!.startsWith('-')) ignored.push(tokens[++i]!);
      continue;
    }
    if (spec.boolean) {
      if (eq !== -1) throw new ParseError(`--${name} takes no value`);
      opt[name] = true;
      continue;
    }
    if (eq !== -1) {
      opt[name] = tok.slice(eq + 1);
    } else {
      if (i + 1 >= tokens.length) throw new ParseError(`--${name} needs a value`);
      opt[name] = tokens[++i]!;
    }
  }
  const specs = def.positionals;
  if (positionals.length > specs.length) throw new ParseError(`unexpected argument: ${positionals[specs.length]}`);
  specs.forEach((p, i) => {
    const v = positionals[i];
    if (v === undefined && !p.optional) throw new ParseError(`missing <${p.name}>`);
    pos[p.name] = v;
  });
  for (const [name, spec] of Object.entries(def.options)) {
    if (spec.boolean) opt[name] ??= false;
    else if (spec.required && opt[name] === undefined) throw new ParseError(`missing --${name}`);
  }
  return { pos, opt, ignored };
}

// -----------------------------------------------------------------------------------------------
// HTTP: one exchange over a plain socket

/**
 * One HTTP/1.1 exchange, written straight onto a socket: `Connection: close`, the reply read by
 * Content-Length or chunked coding. Why not node:http or fetch: agents run the CLI hundreds of
 * times a session; loading node:http adds about 5 ms of CPU to every run on the dev box, and
 * fetch/undici several times that (bench/cli.ts measures the whole start-up). https:// uses
 * node:tls, loaded only then. Redirects are not followed (the API never sends any).
 */

export interface Reply {
  readonly status: number;
  /** Lower-case names; repeated headers joined with ", ". */
  readonly headers: Record<string, string>;
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
  const socket = tls ? (await import('node:tls')).connect({ host, port, servername: net.isIP(host) ? undefined : host }) : net.connect({ host, port });
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
    const fail = (e: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(connectTimer);
      clearTimeout(replyTimer);
      socket.destroy();
      reject(new CliError(`request failed: ${describeError(e)}`));
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
    socket.write(requestHead + '\r\n');
    if (body !== undefined && body.length > 0) socket.write(body);
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

// -----------------------------------------------------------------------------------------------
// Output

/**
 * Re-indents JSON text without parsing it into JS values, so member order, number spelling and
 * big integers survive exactly (SPEC §7-19: --pretty preserves server order). `indent` 0 = compact.
 * The caller guarantees `text` is valid JSON.
 */
export function reindentJson(text: string, indent: number): string {
  const pad = (depth: number) => (indent === 0 ? '' : '\n' + ' '.repeat(depth * indent));
  let out = '';
  let depth = 0;
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text[i]!;
    if (c === '"') {
      let j = i + 1;
      while (j < n && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j + 1;
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
      continue;
    }
    if (c === '{' || c === '[') {
      let j = i + 1;
      while (j < n && ' \t\n\r'.includes(text[j]!)) j++;
      const close = c === '{' ? '}' : ']';
      if (text[j] === close) {
        out += c + close;
        i = j + 1;
        continue;
      }
      depth++;
      out += c + pad(depth);
    } else if (c === '}' || c === ']') {
      depth--;
      out += pad(depth) + c;
    } else if (c === ',') {
      out += ',' + pad(depth);
    } else if (c === ':') {
      out += indent === 0 ? ':' : ': ';
    } else {
      out += c;
    }
    i++;
  }
  return out;
}

export function isJsonText(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** What the CLI prints for a reply body: unchanged, or with --pretty and a JSON body, 2-space + `\n`. */
export function formatBody(body: Buffer, contentType: string | undefined, pretty: boolean): Buffer | string {
  if (!pretty || body.length === 0 || !/json/i.test(contentType ?? '')) return body;
  const text = body.toString('utf8');
  return isJsonText(text) ? reindentJson(text, 2) + '\n' : body;
}

/** SPEC §7-18: 0 for a 2xx/3xx reply, 1 for ≥ 400 (whose error JSON still goes to stdout). */
export function exitCodeFor(status: number): number {
  return status >= 400 ? 1 : 0;
}

/**
 * Writes to a file descriptor synchronously, without creating process.stdout/stderr (their stream
 * machinery is start-up time the one-shot commands do not need, and a synchronous write is done
 * when it returns, so main.ts may exit right after the command). A reader that went away
 * (`| head`) ends the output quietly; a full non-blocking pipe is retried.
 */
function writeFd(fd: 1 | 2, data: Buffer | string): void {
  let buf = typeof data === 'string' ? Buffer.from(data) : data;
  while (buf.length > 0) {
    try {
      buf = buf.subarray(fs.writeSync(fd, buf));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') continue;
      if (code === 'EPIPE') return;
      throw e;
    }
  }
}

/** Command output (stdout). */
export function writeOut(data: Buffer | string): void {
  writeFd(1, data);
}

/** One status or error line (stderr). */
export function writeErr(line: string): void {
  writeFd(2, line.endsWith('\n') ? line : line + '\n');
}

/** Prints a reply the standard way and returns the exit code. */
export function printReply(reply: Reply, pretty: boolean): number {
  writeOut(formatBody(reply.body, reply.headers['content-type'], pretty));
  return exitCodeFor(reply.status);
}

// -----------------------------------------------------------------------------------------------
// Helpers shared by the commands

/** The usual command: one request, body to stdout (pretty if asked), exit code from the status. */
export async function call(ctx: RunContext, method: string, pathAndQuery: string, opts?: RequestOptions): Promise<number> {
  return printReply(await request(ctx.config, method, pathAndQuery, opts), ctx.pretty);
}

export function readFileArg(file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new CliError(`cannot read ${file}: ${err.code === 'ENOENT' ? 'no such file' : err.code === 'EISDIR' ? 'is a directory' : err.message}`);
  }
}

/** Options every `set` command shares (SPEC §4.2). */
export const BODY_OPTIONS = {
  file: { description: 'Read the value from this file (raw bytes)' },
  data: { description: 'The value as text' },
} as const;

/** The body of a `set` command: `--file <path>` (raw bytes) or `--data <text>`. */
export function bodyFrom(opt: { file?: string | undefined; data?: string | undefined }, ignored: readonly string[]): Buffer {
  if (opt.file !== undefined && opt.data !== undefined) throw new UsageError('use either --file or --data, not both');
  if (opt.file !== undefined) return readFileArg(opt.file);
  if (opt.data !== undefined) return Buffer.from(opt.data);
  throw new UsageError(`expected --file or --data, got ${ignored[0] ?? 'nothing'}`);
}

/** The `--instance` option of the commands that act for an agent (leases, tasks). */
export const INSTANCE_OPTION = { instance: { description: 'Act as this agent (instance id; default $KOOR_INSTANCE)' } } as const;

/** The context of a command acting for an agent: `--instance` wins over KOOR_INSTANCE. */
export function asAgent(ctx: RunContext, instance: string | undefined): RunContext {
  return instance === undefined || instance === '' ? ctx : { ...ctx, config: { ...ctx.config, instance } };
}

/** A comma-separated list (`a,b`), items trimmed, empty ones dropped. */
export function commaList(s: string): string[] {
  return s
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x !== '');
}

/** A whole number given on the command line, else a usage error naming the option. */
export function intOption(name: string, v: string): number {
  if (!/^-?\d{1,15}$/.test(v)) throw new UsageError(`--${name} must be a whole number, got ${v}`);
  return Number(v);
}

/** `P/N` split at the first `/`; both parts non-empty. */
export function projectName(arg: string): { project: string; name: string } {
  const i = arg.indexOf('/');
  if (i <= 0 || i === arg.length - 1) throw new UsageError(`expected <project>/<name>, got ${arg}`);
  return { project: arg.slice(0, i), name: arg.slice(i + 1) };
}
