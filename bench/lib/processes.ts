/**
 * Child processes a suite talks to: koor-server from dist, a compiled helper of dist/bench, any
 * node script that logs its listen address; pinning to a core, a free loopback port, a command on
 * the PATH. Every child is registered for cleanup (cleanup.ts).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { makeTempDir, register, stopChild } from './cleanup.js';
import { BENCH_DIST_DIR, KOOR_MAIN_JS, REPO_ROOT } from './suite.js';

export interface ServerProc {
  name: string;
  pid: number;
  /** `http://127.0.0.1:<port>` */
  url: string;
  port: number;
  child: ChildProcess;
  /** Last 64 KiB of the child's stderr+stdout (for diagnostics). */
  output(): string;
  /** SIGTERM, wait up to graceMs, then SIGKILL; removes its temp dir if any. */
  stop(graceMs?: number): Promise<void>;
}

const OUTPUT_TAIL_BYTES = 64 * 1024;
/** Both koor-server and the baseline log `"api":"127.0.0.1:<port>"` once listening. */
const LISTEN_RE = /"api":"127\.0\.0\.1:(\d+)"/;

/** Environment without KOOR_* (so a developer's settings cannot change what is measured). */
function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('KOOR_')) env[k] = v;
  return { ...env, ...extra };
}

/**
 * Starts `node <script> <args>` and resolves once it logs its listen address. Output is drained
 * continuously (a full pipe would stall the child) and only a bounded tail is kept.
 */
export function spawnNode(name: string, script: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; startTimeoutMs?: number; dir?: () => void; nodeFlags?: string[] } = {}): Promise<ServerProc> {
  if (!fs.existsSync(script)) return Promise.reject(new Error(`${name}: ${script} not found (run the build first)`));
  const child = spawn(process.execPath, [...(opts.nodeFlags ?? []), script, ...args], {
    cwd: opts.cwd ?? REPO_ROOT,
    env: cleanEnv(opts.env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const unregister = register({ child });
  let out = '';
  const onData = (d: Buffer) => {
    out += d.toString();
    if (out.length > OUTPUT_TAIL_BYTES * 2) out = out.slice(-OUTPUT_TAIL_BYTES);
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const removeDir = opts.dir;
  const stop = async (graceMs = 10_000) => {
    await stopChild(child, graceMs);
    unregister();
    removeDir?.();
  };
  return new Promise<ServerProc>((resolve, reject) => {
    let settled = false;
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      void stop(1000).then(() => reject(err));
    };
    const timer = setTimeout(() => fail(new Error(`${name} did not start within ${opts.startTimeoutMs ?? 20_000} ms:\n${out}`)), opts.startTimeoutMs ?? 20_000);
    const check = () => {
      if (settled) return;
      const m = LISTEN_RE.exec(out);
      if (!m) return;
      settled = true;
      clearTimeout(timer);
      const port = Number(m[1]);
      resolve({ name, pid: child.pid!, url: `http://127.0.0.1:${port}`, port, child, output: () => out.slice(-OUTPUT_TAIL_BYTES), stop });
    };
    child.stderr!.on('data', check);
    child.stdout!.on('data', check);
    child.once('error', (err) => fail(err));
    child.once('exit', (code, signal) => fail(new Error(`${name} exited (code ${code}, signal ${signal}) before listening:\n${out}`)));
  });
}

/**
 * koor-server from dist on an ephemeral loopback port with a fresh temp data dir, dashboard off,
 * no KOOR_* env, cwd = the data dir (so no stray ./settings.json is read). stop() removes the dir.
 */
export async function spawnKoor(extraArgs: string[] = [], env: NodeJS.ProcessEnv = {}, main?: string): Promise<ServerProc & { dataDir: string }> {
  const tmp = makeTempDir('koor-bench-');
  try {
    // KOOR_BENCH_SERVER: another build's dist/src/main.js, to measure it under the same harness;
    // KOOR_BENCH_SERVER_FLAGS: node's flags for the server alone (`--max-semi-space-size=4`), not this process's.
    const p = await spawnNode('koor-server', main ?? (process.env.KOOR_BENCH_SERVER || KOOR_MAIN_JS), ['--bind', '127.0.0.1:0', '--dashboard-bind', '', '--data-dir', tmp.dir, ...extraArgs], {
      nodeFlags: (process.env.KOOR_BENCH_SERVER_FLAGS ?? '').split(' ').filter((f) => f !== ''),
      cwd: tmp.dir,
      env,
      dir: tmp.remove,
    });
    return { ...p, dataDir: tmp.dir };
  } catch (e) {
    tmp.remove();
    throw e;
  }
}

/** A compiled helper in dist/bench (e.g. 'baselines/uws.js') as its own process. */
export function spawnBenchScript(name: string, file: string, args: string[] = []): Promise<ServerProc> {
  return spawnNode(name, path.join(BENCH_DIST_DIR, file), args);
}


/** Pins every thread of process `pid` to `cpu` (taskset); false when taskset is unavailable. */
export function pin(pid: number, cpu: number): boolean {
  try {
    execFileSync('taskset', ['-a', '-p', '-c', String(cpu), String(pid)], { stdio: 'ignore', timeout: 2000 });
    return true;
  } catch {
    return false;
  }
}

/** Whether `cmd` is on the PATH. */
export function have(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore', timeout: 2000 });
    return true;
  } catch {
    return false;
  }
}

/** A loopback port free right now (for servers that must be told their port up front). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}
