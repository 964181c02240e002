import fs from 'node:fs';
import { CliError, defineCommand, describeError, keyPath, readFileArg, request, writeErr, writeOut } from '../core.js';

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

/** The original's backup file (SPEC §4.4): `{"rules":[…],"state":{"<key>":<value>}}`. */
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
    'A Koor snapshot (from `koor-cli backup`) must be restored with the server stopped: `koor-server --restore FILE`. A JSON backup of the original format (`{"rules":[…],"state":{…}}`) is restored here through the API: each state key is PUT (as JSON), then the rules are imported. Per-key failures are printed as warnings and the rest goes on.',
  examples: [['Restore a JSON backup', '$0 restore --file backup.json']],
  positionals: [],
  options: {
    file: { description: 'The backup file', required: true },
  },
  async run({ opt, ctx }) {
    if (startsWithSqliteHeader(opt.file)) {
      throw new CliError(`${opt.file} is a Koor snapshot: stop the server and run \`koor-server --restore ${opt.file}\` (it keeps the current data file aside)`);
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
        imported = Number((JSON.parse(r.body.toString('utf8')) as { imported?: unknown }).imported) || 0;
      } catch {
        imported = 0;
      }
    }
    writeOut(`restore complete from ${opt.file}\n  state keys: ${sent}\n  rules: ${imported}\n`);
    return 0;
  },
});
