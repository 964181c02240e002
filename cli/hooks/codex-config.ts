/**
 * What `koor-cli init --codex` changes in Codex's own configuration (~/.codex/config.toml, or
 * $CODEX_HOME), always through Codex's own app server (`codex app-server`, JSON-RPC over stdio: the
 * interface its interactive client uses), never by editing Codex's TOML (test/helpers/CODEX-FACTS.md):
 *
 * - `--trust`: what a user otherwise does once per clone in the interactive client before `codex
 *   exec` runs Koor's hooks — trust the project (Codex loads no project config, hooks included, in
 *   an untrusted one) and review its hooks (Codex runs only hooks whose current hash matches the
 *   one recorded when they were trusted): `config/batchWrite` of `projects.<root>.trust_level =
 *   "trusted"`, `hooks/list` for the project, then `config/batchWrite` of
 *   `hooks.state.<key>.trusted_hash` for Koor's hooks only (a command starting `koor-hook` or `koor-cli hook`);
 *   the user's other hooks stay as they are.
 * - `--telemetry`: Codex's OpenTelemetry logs export to Koor (`otel.exporter.otlp-http`). Codex
 *   reads `[otel]` only from the user's config and sends header values as written, so the token
 *   goes into that file (Codex writes it 0600). `--remove --codex` takes it out when it is Koor's
 *   (its endpoint is this server's `/v1/logs`).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { CliError } from '../core.js';
import { isKoorHook } from './files.js';

/** Starting the app server and three requests take ~0.3 s; this is the bound. */
const APP_SERVER_TIMEOUT_MS = 30_000;

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
export function codexOnPath(env: NodeJS.ProcessEnv, what: string): string {
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
  throw new CliError(`${what}: no \`codex\` on PATH (install Codex${what === '--trust' ? ', or trust the project and review its hooks in codex itself' : ''})`);
}

type Call = (method: string, params: unknown) => Promise<any>;

/**
 * One exchange with `codex app-server` (JSON-RPC over stdio, what Codex's interactive client
 * uses): initialized, `fn` run, the server ended; its refusals and failures are CliErrors named
 * after `what`. The e2e tests ask it which hooks Codex loads (test/helpers/codex.ts).
 */
export async function withAppServer<T>(codex: string, env: NodeJS.ProcessEnv, what: string, fn: (call: Call) => Promise<T>): Promise<T> {
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
  child.on('error', (e: Error) => fail(new CliError(`${what}: cannot run ${codex}: ${e.message}`)));
  child.on('close', (code) => fail(new CliError(`${what}: codex app-server exited (${code}) early: ${stderr.trim().split('\n').at(-1) ?? ''}`)));
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
      if (m.error) w.reject(new CliError(`${what}: codex app-server refused: ${m.error.message ?? JSON.stringify(m.error)}`));
      else w.resolve(m.result);
    }
  });
  const call: Call = (method, params) =>
    new Promise((resolve, reject) => {
      if (failed) return reject(failed);
      const id = ++next;
      waiting.set(id, { resolve, reject });
      child.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', id, method, params })}\n`);
    });
  const timer = setTimeout(() => {
    fail(new CliError(`${what}: codex app-server did not answer within ${APP_SERVER_TIMEOUT_MS / 1000} s`));
    child.kill('SIGKILL');
  }, APP_SERVER_TIMEOUT_MS);
  try {
    await call('initialize', { clientInfo: { name: 'koor-cli', title: null, version: '1' }, capabilities: null });
    child.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', method: 'initialized' })}\n`);
    return await fn(call);
  } finally {
    clearTimeout(timer);
    child.removeAllListeners('close');
    child.stdin.end();
    child.kill('SIGTERM');
  }
}

/** Trusts the project at `root` and Koor's hooks in its .codex/hooks.json, with `codex` (codexOnPath). */
export function trustInCodex(codex: string, root: string, env: NodeJS.ProcessEnv): Promise<TrustResult> {
  return withAppServer(codex, env, '--trust', async (call) => {
    const project = await call('config/batchWrite', { edits: [{ keyPath: 'projects', value: { [root]: { trust_level: 'trusted' } }, mergeStrategy: 'upsert' }] });
    const list = await call('hooks/list', { cwds: [root] });
    const file = path.join(root, '.codex', 'hooks.json');
    const ours = ((list?.data?.[0]?.hooks ?? []) as Listed[]).filter((h) => h.sourcePath === file && isKoorHook({ command: h.command }));
    if (ours.length === 0) throw new CliError(`--trust: Codex lists no Koor hook in ${file}${list?.data?.[0]?.warnings?.length ? `: ${list.data[0].warnings.join('; ')}` : ''}`);
    const state: Record<string, { trusted_hash: string }> = {};
    for (const h of ours) state[h.key] = { trusted_hash: h.currentHash };
    await call('config/batchWrite', { edits: [{ keyPath: 'hooks.state', value: state, mergeStrategy: 'upsert' }] });
    return { configFile: String(project?.filePath ?? ''), trusted: ours.length };
  });
}

/** Koor's OTLP logs endpoint on `server`, as Codex's exporter is given it. */
export const codexOtlpEndpoint = (server: string): string => `${server}/v1/logs`;

/**
 * Codex's OpenTelemetry export to Koor set (install) or, when it is Koor's, taken out (in the
 * user's config, through the app server). Returns the config file when it changed, else null.
 */
export function codexTelemetry(codex: string, env: NodeJS.ProcessEnv, server: string, token: string, install: boolean): Promise<string | null> {
  return withAppServer(codex, env, '--telemetry', async (call) => {
    const endpoint = codexOtlpEndpoint(server);
    if (!install) {
      const current = await call('config/read', {});
      const ours = current?.config?.otel?.exporter?.['otlp-http']?.endpoint === endpoint;
      if (!ours) return null;
    }
    const value = install ? { 'otlp-http': { endpoint, protocol: 'json', ...(token !== '' ? { headers: { authorization: `Bearer ${token}` } } : {}) } } : null;
    const r = await call('config/batchWrite', { edits: [{ keyPath: 'otel.exporter', value, mergeStrategy: 'replace' }] });
    return String(r?.filePath ?? '');
  });
}
