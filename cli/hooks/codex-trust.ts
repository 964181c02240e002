/**
 * `koor-cli init --codex --trust`: what a user otherwise does once per clone in the interactive
 * Codex client before `codex exec` runs Koor's hooks (test/helpers/CODEX-FACTS.md) — trust the
 * project (Codex loads no project config, hooks included, in an untrusted one) and review its
 * hooks (Codex runs only hooks whose current hash matches the one recorded when they were
 * trusted). Done through Codex's own app server (`codex app-server`, JSON-RPC over stdio), as the
 * interactive client does it: `config/batchWrite` of `projects.<root>.trust_level = "trusted"`,
 * `hooks/list` for the project, then `config/batchWrite` of `hooks.state.<key>.trusted_hash` for
 * Koor's hooks only (a command starting `koor-cli hook`); the user's other hooks stay as they are.
 * Codex writes its own ~/.codex/config.toml ($CODEX_HOME).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { CliError } from '../core.js';
import { isKoorHook } from './files.js';

/** Starting the app server and three requests take ~0.3 s; this is the bound. */
const TRUST_TIMEOUT_MS = 30_000;

interface Listed {
  key: string;
  command?: string;
  sourcePath: string;
  currentHash: string;
  trustStatus: string;
}

export interface TrustResult {
  /** Where Codex recorded the trust. */
  configFile: string;
  /** Koor's hooks now trusted (those that already were included). */
  trusted: number;
}

/** The `codex` executable on PATH; a CliError when there is none (checked before init writes anything). */
export function codexOnPath(env: NodeJS.ProcessEnv): string {
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (dir === '') continue;
    const file = path.join(dir, process.platform === 'win32' ? 'codex.cmd' : 'codex');
    try {
      fs.accessSync(file, fs.constants.X_OK);
      if (fs.statSync(file).isFile()) return file;
    } catch {
      // not here
    }
  }
  throw new CliError('--trust: no `codex` on PATH (install Codex, or trust the project and review its hooks in codex itself)');
}

/** Trusts the project at `root` and Koor's hooks in its .codex/hooks.json, with `codex` (codexOnPath). */
export async function trustInCodex(codex: string, root: string, env: NodeJS.ProcessEnv): Promise<TrustResult> {
  const child = spawn(codex, ['app-server'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr = (stderr + s).slice(-2000)));
  const waiting = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void }>();
  let buf = '';
  let next = 0;
  let failed: Error | null = null;
  const fail = (e: Error) => {
    failed ??= e;
    for (const w of waiting.values()) w.reject(failed);
    waiting.clear();
  };
  child.on('error', (e: Error) => fail(new CliError(`--trust: cannot run ${codex}: ${e.message}`)));
  child.on('close', (code) => fail(new CliError(`--trust: codex app-server exited (${code}) early: ${stderr.trim().split('\n').at(-1) ?? ''}`)));
  child.stdin.on('error', () => {});
  child.stdout.setEncoding('utf8').on('data', (s: string) => {
    buf += s;
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      let m: any;
      try {
        m = JSON.parse(line);
      } catch {
        continue;
      }
      const w = typeof m?.id === 'number' ? waiting.get(m.id) : undefined;
      if (w === undefined) continue;
      waiting.delete(m.id);
      if (m.error) w.reject(new CliError(`--trust: codex app-server refused: ${m.error.message ?? JSON.stringify(m.error)}`));
      else w.resolve(m.result);
    }
  });
  const call = (method: string, params: unknown): Promise<any> =>
    new Promise((resolve, reject) => {
      if (failed) return reject(failed);
      const id = ++next;
      waiting.set(id, { resolve, reject });
      child.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', id, method, params })}\n`);
    });
  const timer = setTimeout(() => {
    fail(new CliError(`--trust: codex app-server did not answer within ${TRUST_TIMEOUT_MS / 1000} s`));
    child.kill('SIGKILL');
  }, TRUST_TIMEOUT_MS);
  try {
    await call('initialize', { clientInfo: { name: 'koor-cli', title: null, version: '1' }, capabilities: null });
    child.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', method: 'initialized' })}\n`);
    const project = await call('config/batchWrite', { edits: [{ keyPath: 'projects', value: { [root]: { trust_level: 'trusted' } }, mergeStrategy: 'upsert' }] });
    const list = await call('hooks/list', { cwds: [root] });
    const file = path.join(root, '.codex', 'hooks.json');
    const ours = ((list?.data?.[0]?.hooks ?? []) as Listed[]).filter((h) => h.sourcePath === file && isKoorHook({ command: h.command }));
    if (ours.length === 0) throw new CliError(`--trust: Codex lists no Koor hook in ${file}${list?.data?.[0]?.warnings?.length ? `: ${list.data[0].warnings.join('; ')}` : ''}`);
    const state: Record<string, { trusted_hash: string }> = {};
    for (const h of ours) state[h.key] = { trusted_hash: h.currentHash };
    await call('config/batchWrite', { edits: [{ keyPath: 'hooks.state', value: state, mergeStrategy: 'upsert' }] });
    return { configFile: String(project?.filePath ?? ''), trusted: ours.length };
  } finally {
    clearTimeout(timer);
    child.removeAllListeners('close');
    child.stdin.end();
    child.kill('SIGTERM');
  }
}
