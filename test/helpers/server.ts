import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { parseBind, type Config } from '../../src/config.js';
import { testConfig } from './config.js';
import { silentLogger } from '../../src/log.js';
import { startServer, type KoorServer } from '../../src/server.js';
import type { Postgres } from '../../bench/lib/postgres.js';
import { providePostgres, recycleDatabase, suiteDatabase } from './postgres.js';
import { roundRobin } from './round-robin.js';
import { repoPath } from './paths.js';

interface Teardown {
  teardown(fn: () => unknown): void;
}

export function tempDir(t: Teardown, prefix = 'koor-test-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * The backend the suite runs on: `KOOR_TEST_BACKEND=postgres` runs every server startTestServer
 * makes in cluster mode on a PostgreSQL of this test process, one database per data directory (a
 * server started again on the same directory finds its data, as on SQLite); `cluster` makes each
 * of them CLUSTER_NODES nodes on that database behind a round-robin balancer (test/helpers/round-robin.ts),
 * so consecutive requests of a test land on different nodes.
 */
export const TEST_BACKEND: 'sqlite' | 'postgres' | 'cluster' =
  process.env.KOOR_TEST_BACKEND === 'postgres' || process.env.KOOR_TEST_BACKEND === 'cluster' ? process.env.KOOR_TEST_BACKEND : 'sqlite';
/**
 * Nodes per test server when TEST_BACKEND is `cluster`: two, so each request lands on the node the
 * one before it did not. Three took the pass 659 s against 475 here and tested nothing more: what
 * needs three (a leader among them, writes racing on each) is in test/cluster, partitions in bench/jepsen.
 */
export const CLUSTER_NODES = 2;

/** Skips `t` when the suite runs on PostgreSQL: it tests the SQLite store itself (its file, its writer thread). */
export function sqliteOnly(t: { skip(msg: string): void }, why: string): boolean {
  if (TEST_BACKEND === 'sqlite') return false;
  t.skip(`SQLite store only: ${why}`);
  return true;
}

let testPg: Promise<{ url: string }> | null = null;
const databases = new Map<string, string>();

/**
 * The PostgreSQL of this test process's databases: the cluster pass's, shared by its files
 * (KOOR_TEST_POSTGRES_URL, test/setup/shared-postgres.ts), or one this process starts and stops.
 */
function testPostgres(): Promise<{ url: string }> {
  const shared = process.env.KOOR_TEST_POSTGRES_URL;
  if (shared) return Promise.resolve({ url: shared });
  return providePostgres().then((pg: Postgres | { skipped: string }) => {
    if ('skipped' in pg) throw new Error(`KOOR_TEST_BACKEND=postgres, but no PostgreSQL: ${pg.skipped}`);
    process.once('exit', () => pg.stop());
    return pg;
  });
}

async function databaseFor(dataDir: string): Promise<string> {
  testPg ??= testPostgres();
  const pg = await testPg;
  let url = databases.get(dataDir);
  if (!url) {
    url = await suiteDatabase(pg);
    databases.set(dataDir, url);
  }
  return url;
}

/** A key file for webhook secrets (64 hex characters, mode 0600) in the test's data directory. */
export function sharedSecretKey(dataDir: string): string {
  fs.mkdirSync(dataDir, { recursive: true });
  const file = path.join(dataDir, 'shared-secret.key');
  if (!fs.existsSync(file)) fs.writeFileSync(file, `${crypto.randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
  return file;
}

export interface TestServerOptions {
  /**
   * In the cluster pass, run this server as one node (still on PostgreSQL), and why: the test
   * reads figures a node keeps for itself (its hub's subscribers, its counters, its token tax) or
   * speaks raw bytes to one listener.
   */
  oneNode?: string;
}

export interface TestServer extends KoorServer {
  /** Each node's own URL (one in a single-node run): for the figures a node keeps for itself, summed. */
  readonly nodeUrls: readonly string[];
}

/**
 * A real server on an ephemeral loopback port with a temp data dir, closed at teardown. In the
 * cluster pass its `url` is the balancer's and the other fields are the first node's.
 */
export async function startTestServer(t: Teardown, over: Partial<Config> = {}, opts: TestServerOptions = {}): Promise<TestServer> {
  const dataDir = over.dataDir ?? tempDir(t);
  const database = over.database ?? (TEST_BACKEND !== 'sqlite' ? await databaseFor(dataDir) : '');
  // A data directory of its own: its database goes to the next server once this one has closed
  // (teardowns run last first: this one after the close below, before the directory is removed).
  if (over.dataDir === undefined && over.database === undefined && database !== '') {
    t.teardown(() => {
      databases.delete(dataDir);
      return recycleDatabase(database);
    });
  }
  const config = testConfig({
    bind: parseBind('127.0.0.1:0', 'bind'),
    dashboardBind: null,
    // PostgreSQL: the key of webhook secrets every node shares (SQLite makes one in the data dir).
    ...(database !== '' ? { secretKeyFile: sharedSecretKey(dataDir) } : {}),
    ...over,
    dataDir,
    database,
  });
  if (TEST_BACKEND !== 'cluster' || opts.oneNode !== undefined || over.database !== undefined) {
    const server = await startServer(config, { log: silentLogger() });
    t.teardown(() => server.close());
    return { ...server, nodeUrls: [server.url] };
  }
  // The first node alone (it applies the migrations and becomes the leader), then the others at once.
  const nodes: KoorServer[] = [];
  t.teardown(() => Promise.all(nodes.map((n) => n.close())));
  const startNode = async (i: number) => {
    const node = await startServer({ ...config, bind: { ...config.bind, port: 0 }, dashboardBind: i === 0 ? config.dashboardBind : null }, { log: silentLogger() });
    nodes[i] = node;
  };
  await startNode(0);
  const rest = await Promise.allSettled(Array.from({ length: CLUSTER_NODES - 1 }, (_, i) => startNode(i + 1)));
  for (const r of rest) if (r.status === 'rejected') throw r.reason;
  const balancer = await roundRobin(
    nodes.map((n) => n.port),
    config.bind.port,
  );
  let closing: Promise<void> | null = null;
  const close: KoorServer['close'] = (o) =>
    (closing ??= balancer.close().then(() => Promise.all(nodes.map((n) => n.close(o))).then(() => undefined)));
  t.teardown(() => close());
  return { ...nodes[0]!, port: balancer.port, url: `http://127.0.0.1:${balancer.port}`, close, nodeUrls: nodes.map((n) => n.url) };
}

export const MAIN_JS = repoPath('dist', 'src', 'main.js');

/**
 * The command that runs one of our node programs (server, CLI) as a user runs it: tap adds its
 * process-info hook to NODE_OPTIONS of every process a test spawns, whatever env it is given (it
 * patches spawn), which costs ~0.25 s per start and loads tap code into the program under test;
 * `env -u NODE_OPTIONS` takes it out and execs node (same pid, so signals reach it).
 */
export function nodeCommand(script: string, args: readonly string[]): [string, string[]] {
  return ['/usr/bin/env', ['-u', 'NODE_OPTIONS', process.execPath, script, ...args]];
}

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
  /** Each node's own URL (one unless the cluster pass runs the server as several nodes). */
  nodeUrls: readonly string[];
}

/**
 * Runs the built koor-server as a subprocess on an ephemeral port; resolves once it listens. In
 * the PostgreSQL and cluster passes a server given `--data-dir` (and no `--database`) runs on that
 * directory's database, and in the cluster pass as CLUSTER_NODES node processes behind the round-robin
 * balancer: `child` is the first node's, and when it exits (a test kills it) the others go too.
 */
export async function spawnServer(args: string[], env: NodeJS.ProcessEnv = {}, opts: TestServerOptions = {}): Promise<ServerProcess> {
  const dirAt = args.indexOf('--data-dir');
  if (TEST_BACKEND === 'sqlite' || dirAt < 0 || args.includes('--database')) return spawnNode(args, env);
  const full = [...args, '--database', await databaseFor(args[dirAt + 1]!), ...(args.includes('--secret-key-file') ? [] : ['--secret-key-file', sharedSecretKey(args[dirAt + 1]!)])];
  if (TEST_BACKEND === 'postgres' || opts.oneNode !== undefined || args.includes('--bind')) return spawnNode(full, env);
  const first = await spawnNode(full, env);
  const rest = await Promise.allSettled(Array.from({ length: CLUSTER_NODES - 1 }, () => spawnNode(full, env)));
  const others = rest.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const stopOthers = () => {
    for (const o of others) {
      o.child.kill('SIGKILL');
      extraNodes.delete(o.child);
    }
  };
  const failed = rest.find((r) => r.status === 'rejected');
  if (failed) {
    first.child.kill('SIGKILL');
    stopOthers();
    throw (failed as PromiseRejectedResult).reason;
  }
  const nodes = [first, ...others];
  const balancer = await roundRobin(nodes.map((n) => Number(new URL(n.url).port)));
  for (const o of others) extraNodes.add(o.child);
  first.child.once('exit', () => {
    stopOthers();
    void balancer.close();
  });
  return { child: first.child, url: `http://127.0.0.1:${balancer.port}`, stderr: first.stderr, nodeUrls: nodes.map((n) => n.url) };
}

/** The cluster pass's node processes besides each server's first: never left running after this process. */
const extraNodes = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of extraNodes) c.kill('SIGKILL');
});

function spawnNode(args: string[], env: NodeJS.ProcessEnv): Promise<ServerProcess> {
  const child = spawn(...nodeCommand(MAIN_JS, ['--bind', '127.0.0.1:0', '--dashboard-bind', '', ...args]), {
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
        const url = `http://127.0.0.1:${m[1]}`;
        resolve({ child, url, stderr: () => err, nodeUrls: [url] });
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
    const child = spawn(...nodeCommand(MAIN_JS, args), {
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

/** A figure each node keeps for itself (`GET /api/metrics`), summed over the nodes of a test server. */
export async function summedMetric(nodeUrls: readonly string[], pick: (metrics: any) => number): Promise<number> {
  const all = await Promise.all(nodeUrls.map(async (u) => json(await fetch(`${u}/api/metrics`))));
  return all.reduce((n: number, m) => n + pick(m), 0);
}

/** A number from a server's Prometheus page (`GET /metrics`); a name it lacks fails the test. */
export async function metric(base: string, name: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const m = new RegExp(`^${name} (\\d+)`, 'm').exec(text);
  if (!m) throw new Error(`${name} not in /metrics`);
  return Number(m[1]);
}
