import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { authHeaders, CliError, CONNECT_TIMEOUT_MS, defineCommand, describeError, exitCodeFor, formatBody, parseServer, writeOut, type CliConfig } from '../core.js';

/** What the server says the snapshot holds (X-Koor-* headers of GET /api/admin/backup). */
const COUNTS = [
  ['x-koor-state-keys', 'state keys'],
  ['x-koor-rules', 'rules'],
  ['x-koor-specs', 'specs'],
  ['x-koor-events', 'events'],
  ['x-koor-instances', 'instances'],
] as const;

/**
 * Streams GET /api/admin/backup into `part` (mode 0600: the snapshot holds tokens and webhook
 * secrets), never holding the file in memory. Resolves with the reply's status and headers, and
 * its body when it is not the snapshot (an error to print).
 */
function download(config: CliConfig, part: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; errorBody: Buffer | null }> {
  const base = parseServer(config);
  const lib = base.protocol === 'https:' ? https : http;
  const target = `${base.pathname.replace(/\/+$/, '')}/api/admin/backup`;
  return new Promise((resolve, reject) => {
    const fail = (e: unknown) => reject(new CliError(`request failed: ${describeError(e)}`));
    const req = lib.get({ protocol: base.protocol, hostname: base.hostname.replace(/^\[(.*)\]$/, '$1'), port: base.port, path: target, headers: { 'user-agent': 'koor-cli', ...authHeaders(config) } }, (res) => {
      // From here the clock is the gap between two chunks: a big snapshot may take minutes.
      req.setTimeout(config.timeoutMs, () => req.destroy(new Error(`no data for ${config.timeoutMs / 1000}s`)));
      const status = res.statusCode ?? 0;
      if (status !== 200) {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status, headers: res.headers, errorBody: Buffer.concat(chunks) }));
        res.on('error', fail);
        return;
      }
      const out = fs.createWriteStream(part, { mode: 0o600 });
      out.on('error', (e) => {
        res.destroy();
        reject(new CliError(`cannot write ${part}: ${describeError(e)}`));
      });
      res.on('error', fail);
      res.on('aborted', () => fail(new Error('the server ended the backup early')));
      res.pipe(out);
      out.on('finish', () => {
        const want = Number(res.headers['content-length']);
        const got = out.bytesWritten;
        if (!res.complete || (Number.isFinite(want) && got !== want)) return reject(new CliError(`backup incomplete: received ${got} of ${want} bytes`));
        resolve({ status, headers: res.headers, errorBody: null });
      });
    });
    req.setTimeout(CONNECT_TIMEOUT_MS, () => req.destroy(new Error(`timeout after ${CONNECT_TIMEOUT_MS / 1000}s connecting to ${base.host}`)));
    req.on('error', fail);
  });
}

function fsyncFile(file: string): void {
  const fd = fs.openSync(file, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

export default defineCommand({
  description: 'Save a consistent snapshot of everything on the server to a file',
  details:
    'Downloads GET /api/admin/backup: one SQLite file with state and its history, specs, events, instances, rules, templates, webhooks, audit, metrics, taken online while the server keeps serving. Tokens are in it only as hashes and webhook secrets only encrypted, yet it is written with mode 0600. Restore with `koor-server --restore FILE` (server stopped) or `koor-cli restore --file FILE`.',
  examples: [['Back up the server', '$0 backup --output koor-backup.db']],
  positionals: [],
  options: {
    output: { description: 'File to write the snapshot to', required: true },
  },
  async run({ opt, ctx }) {
    const file = path.resolve(ctx.cwd, opt.output);
    const part = `${file}.part`;
    let r;
    try {
      r = await download(ctx.config, part);
      if (r.errorBody !== null) {
        writeOut(formatBody(r.errorBody, r.headers['content-type'], ctx.pretty));
        return exitCodeFor(r.status);
      }
      // Complete and on disk before it takes the real name: a crash never leaves half a backup.
      fsyncFile(part);
      fs.renameSync(part, file);
    } finally {
      fs.rmSync(part, { force: true });
    }
    const lines = [`backup saved to ${opt.output}`];
    for (const [h, label] of COUNTS) if (r.headers[h] !== undefined) lines.push(`  ${label}: ${String(r.headers[h])}`);
    writeOut(lines.join('\n') + '\n');
    return 0;
  },
});
