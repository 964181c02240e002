import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { parseBind, testConfig, type Config } from '../../src/config.js';
import { silentLogger } from '../../src/log.js';
import { startServer, type KoorServer } from '../../src/server.js';
import type { Postgres } from '../../bench/postgres.js';
import { freshDatabase, providePostgres } from './postgres.js';

interface Teardown {
  teardown(fn: () => unknown): void;
}

export function tempDir(t: Teardown, prefix = 'koor-test-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * The backend the suite runs on: `KOOR_TEST_BACKEND=postgres` (`npm run test:postgres`) runs every
 * server startTestServer makes in cluster mode on a PostgreSQL of this test process, one database
 * per data directory (a server started again on the same directory finds its data, as on SQLite).
 */
export const TEST_BACKEND: 'sqlite' | 'postgres' = process.env.KOOR_TEST_BACKEND === 'postgres' ? 'postgres' : 'sqlite';

/** Skips `t` when the suite runs on PostgreSQL: it tests the SQLite store itself (its file, its writer thread). */
export function sqliteOnly(t: { skip(msg: string): void }, why: string): boolean {
  if (TEST_BACKEND === 'sqlite') return false;
  t.skip(`SQLite store only: ${why}`);
  return true;
}

let testPg: Promise<Postgres> | null = null;
const databases = new Map<string, string>();

async function databaseFor(dataDir: string): Promise<string> {
  testPg ??= providePostgres().then((pg) => {
    if ('skipped' in pg) throw new Error(`KOOR_TEST_BACKEND=postgres, but no PostgreSQL: ${pg.skipped}`);
    process.once('exit', () => pg.stop());
    return pg;
  });
  const pg = await testPg;
  let url = databases.get(dataDir);
  if (!url) {
    url = await freshDatabase(pg, 'suite');
    databases.set(dataDir, url);
  }
  return url;
}

/** A real server on an ephemeral loopback port with a temp data dir, closed at teardown. */
export async function startTestServer(t: Teardown, over: Partial<Config> = {}): Promise<KoorServer> {
  const dataDir = over.dataDir ?? tempDir(t);
  const database = over.database ?? (TEST_BACKEND === 'postgres' ? await databaseFor(dataDir) : '');
  const config = testConfig({
    bind: parseBind('127.0.0.1:0', 'bind'),
    dashboardBind: null,
    ...over,
    dataDir,
    database,
  });
  const server = await startServer(config, { log: silentLogger() });
  t.teardown(() => server.close());
  return server;
}

export const MAIN_JS = new URL('../../dist/src/main.js', import.meta.url).pathname;

/**
 * The environment a server subprocess gets: this process's, minus every KOOR_* variable (a
 * developer's shell must not change what a test sees), plus `extra`.
 */
export function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('KOOR_')) env[k] = v;
  return { ...env, ...extra };
}

let emptyDir: string | null = null;
/** An empty working directory for subprocesses: no ./settings.json of the developer's is read. */
export function emptyCwd(): string {
  if (emptyDir === null) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'koor-cwd-'));
    emptyDir = dir;
    process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  }
  return emptyDir;
}

export interface ServerProcess {
  child: ChildProcess;
  url: string;
  stderr: () => string;
}

/** Runs the built koor-server as a subprocess on an ephemeral port; resolves once it listens. */
export function spawnServer(args: string[], env: NodeJS.ProcessEnv = {}): Promise<ServerProcess> {
  const child = spawn(process.execPath, [MAIN_JS, '--bind', '127.0.0.1:0', '--dashboard-bind', '', ...args], {
    env: cleanEnv(env),
    cwd: emptyCwd(),
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start: ${err}`)), 15_000);
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /"api":"127\.0\.0\.1:(\d+)"/.exec(err);
      if (m) {
        clearTimeout(timer);
        resolve({ child, url: `http://127.0.0.1:${m[1]}`, stderr: () => err });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited ${code}: ${err}`));
    });
  });
}

/** Runs koor-server to completion (for config errors); returns exit code and output. */
export function runServer(args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}): Promise<{ code: number | null; stderr: string; stdout: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [MAIN_JS, ...args], {
      env: cleanEnv(opts.env),
      cwd: opts.cwd ?? emptyCwd(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    let stdout = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 10_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr, stdout });
    });
  });
}

export async function json(res: Response): Promise<any> {
  const text = await res.text();
  return JSON.parse(text);
}
