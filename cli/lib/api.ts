import fs from 'node:fs';
import { CliError, UsageError, type RunContext } from './command.js';
import { request, type RequestOptions } from './http.js';
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

/** `P/N` split at the first `/`; both parts non-empty. */
export function projectName(arg: string): { project: string; name: string } {
  const i = arg.indexOf('/');
  if (i <= 0 || i === arg.length - 1) throw new UsageError(`expected <project>/<name>, got ${arg}`);
  return { project: arg.slice(0, i), name: arg.slice(i + 1) };
}
