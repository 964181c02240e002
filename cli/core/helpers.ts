/** Helpers shared by the commands. */
import fs from 'node:fs';
import type { ApiRoute, ReplyOf } from '../../schemas/http/api-reply.js';
export type { ApiRoute, ReplyOf } from '../../schemas/http/api-reply.js';
import { CliError, UsageError, type RunContext } from './command.js';
import { request, type Reply, type RequestOptions } from './http.js';
import { printReply } from './output.js';

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

/** Options every `set` command shares. */
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

/** The JSON of a 200 of `route` (`reply` answered a request to it). */
export function replyOf<R extends ApiRoute>(route: R, reply: Reply): ReplyOf<R> {
  void route; // named for its type: the reply's shape is that route's
  return JSON.parse(reply.body.toString('utf8')) as ReplyOf<R>;
}

/** A reply's JSON when it is a success (typed by its route); else its error JSON goes to stdout as usual and null is returned. */
export function okJson<R extends ApiRoute>(route: R, reply: Reply): ReplyOf<R> | null {
  if (reply.status >= 200 && reply.status < 300) return replyOf(route, reply);
  printReply(reply, false);
  return null;
}

/** A duration on the command line: `90s`, `10m`, `2h`, `500ms` or plain seconds; in ms, > 0. */
export function durationOption(name: string, v: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(v.trim());
  const ms = m ? Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'] : NaN;
  // Node timers hold at most 2^31-1 ms (~24.8 days).
  if (!(ms >= 1 && ms <= 2_147_483_647)) throw new UsageError(`--${name} must be a duration such as 90s, 10m or 2h, got ${v}`);
  return Math.round(ms);
}

/** A word as a shell would need it quoted to read it back (for the commands the CLI suggests). */
export function shellWord(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The package's version (dist/cli-cjs/ → ../../package.json); '' if it cannot be read. */
export function packageVersion(): string {
  try {
    return (JSON.parse(fs.readFileSync(`${__dirname}/../../package.json`, 'utf8')) as { version: string }).version;
  } catch {
    return '';
  }
}
