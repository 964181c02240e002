import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { authHeaders, CliError, CONNECT_TIMEOUT_MS, defineCommand, describeError, exitCodeFor, formatBody, keyPath, parseServer, readFileArg, request, writeErr, writeOut, type CliConfig, type ReplyOf } from '../core.js';

/** How long the CLI waits for the server to come back on the restored data. */
const RESTART_WAIT_MS = 60_000;

/** POSTs the snapshot to /api/admin/restore, streamed from disk. */
function upload(config: CliConfig, file: string): Promise<{ status: number; contentType: string | undefined; body: Buffer }> {
  const base = parseServer(config);
  const lib = base.protocol === 'https:' ? https : http;
  const size = fs.statSync(file).size;
  return new Promise((resolve, reject) => {
    const fail = (e: unknown) => reject(new CliError(`request failed: ${describeError(e)}`));
    const req = lib.request(
      {
        method: 'POST',
        protocol: base.protocol,
        hostname: base.hostname.replace(/^\[(.*)\]$/, '$1'),
        port: base.port,
        path: `${base.pathname.replace(/\/+$/, '')}/api/admin/restore`,
        headers: { 'user-agent': 'koor-cli', 'content-type': 'application/vnd.sqlite3', 'content-length': size, ...authHeaders(config) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, contentType: res.headers['content-type'], body: Buffer.concat(chunks) }));
        res.on('error', fail);
      },
    );
    req.setTimeout(Math.max(config.timeoutMs, CONNECT_TIMEOUT_MS), () => req.destroy(new Error(`no progress for ${config.timeoutMs / 1000}s`)));
    req.on('error', fail);
    fs.createReadStream(file).on('error', fail).pipe(req);
  });
}

/** Polls /health until a server with another boot id answers (the one started on the snapshot). */
async function waitForRestart(config: CliConfig, oldBoot: string): Promise<void> {
  const until = Date.now() + RESTART_WAIT_MS;
  while (Date.now() < until) {
    try {
      const r = await request({ ...config, timeoutMs: 2_000 }, 'GET', '/health');
      const boot = r.headers['x-koor-boot'];
      if (r.status === 200 && boot !== undefined && boot !== oldBoot) return;
    } catch {
      // down while it restarts
    }
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new CliError(`the server did not come back within ${RESTART_WAIT_MS / 1000} s after the restore`);
}

const SQLITE_HEADER = Buffer.from('SQLite format 3\0', 'latin1');

function startsWithSqliteHeader(file: string): boolean {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return false; // readFileArg below reports it
  }
  try {
    const head = Buffer.alloc(SQLITE_HEADER.length);
    return fs.readSync(fd, head, 0, head.length, 0) === head.length && head.equals(SQLITE_HEADER);
  } finally {
    fs.closeSync(fd);
  }
}

/** The original's backup file: `{"rules":[…],"state":{"<key>":<value>}}`. */
function parseJsonBackup(file: string): { rules: unknown[]; state: Record<string, unknown> } {
  const text = readFileArg(file).toString('utf8');
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new CliError(`${file} is neither a Koor snapshot nor a JSON backup: ${(e as Error).message}`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new CliError(`${file}: expected a JSON object with "state" and "rules"`);
  const o = v as { rules?: unknown; state?: unknown };
  if (o.rules !== undefined && o.rules !== null && !Array.isArray(o.rules)) throw new CliError(`${file}: "rules" must be an array`);
  if (o.state !== undefined && o.state !== null && (typeof o.state !== 'object' || Array.isArray(o.state))) throw new CliError(`${file}: "state" must be an object`);
  return { rules: (o.rules as unknown[] | null | undefined) ?? [], state: (o.state as Record<string, unknown> | null | undefined) ?? {} };
}

export default defineCommand({
  description: 'Restore a backup into the server',
  details:
    'A Koor snapshot (from `koor-cli backup`) is uploaded to POST /api/admin/restore: the server checks it, keeps its current data file aside and restarts on it (same address; subscribers reconnect), and the command waits until it answers again. A JSON backup of the original format (`{"rules":[…],"state":{…}}`) is restored here through the API: each state key is PUT (as JSON), then the rules are imported. Per-key failures are printed as warnings and the rest goes on.',
  examples: [
    ['Restore a snapshot into the running server', '$0 restore --file koor.db'],
    ['Restore a JSON backup', '$0 restore --file backup.json'],
  ],
  positionals: [],
  options: {
    file: { description: 'The backup file', required: true },
  },
  async run({ opt, ctx }) {
    if (startsWithSqliteHeader(opt.file)) {
      // A snapshot: the server checks it, keeps its current data file aside and restarts on it.
      const r = await upload(ctx.config, opt.file);
      if (r.status !== 200) {
        writeOut(formatBody(r.body, r.contentType, ctx.pretty));
        return exitCodeFor(r.status);
      }
      const reply = JSON.parse(r.body.toString('utf8')) as ReplyOf<'POST /api/admin/restore'>;
      // A cluster node answers once the database was replaced (`restoring: false`): nothing restarts.
      if (reply.restoring !== false) await waitForRestart(ctx.config, reply.boot);
      const c = reply.counts;
      writeOut(`restore complete from ${opt.file}\n  state keys: ${c.state_keys}\n  rules: ${c.rules}\n  specs: ${c.specs}\n  events: ${c.events}\n  instances: ${c.instances}\n`);
      return 0;
    }
    const { rules, state } = parseJsonBackup(opt.file);
    let sent = 0;
    for (const [key, value] of Object.entries(state)) {
      sent++;
      try {
        const r = await request(ctx.config, 'PUT', `/api/state/${keyPath(key)}`, { body: JSON.stringify(value), contentType: 'application/json' });
        if (r.status >= 400) writeErr(`warning: failed to restore key ${key}: ${r.body.toString('utf8').trim()}`);
      } catch (e) {
        writeErr(`warning: failed to restore key ${key}: ${describeError(e)}`);
      }
    }
    let imported = 0;
    if (rules.length > 0) {
      const r = await request(ctx.config, 'POST', '/api/rules/import', { body: JSON.stringify(rules) });
      if (r.status >= 400) throw new CliError(`rules import failed: ${r.body.toString('utf8').trim()}`);
      try {
        imported = Number((JSON.parse(r.body.toString('utf8')) as Partial<ReplyOf<'POST /api/rules/import'>>).imported) || 0;
      } catch {
        imported = 0;
      }
    }
    writeOut(`restore complete from ${opt.file}\n  state keys: ${sent}\n  rules: ${imported}\n`);
    return 0;
  },
});
