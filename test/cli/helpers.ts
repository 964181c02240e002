import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { cleanEnv, emptyCwd, nodeCommand } from '../helpers/server.js';
import { repoPath } from '../helpers/paths.js';

/** The built CLI; `npm test` builds first (`npm run build` before a single file). */
export const CLI_JS = repoPath('dist', 'cli-cjs', 'main.js');

if (!fs.existsSync(CLI_JS)) throw new Error(`${CLI_JS} is missing: build first (npm run build)`);

let configHome: string | null = null;
/**
 * An empty XDG_CONFIG_HOME for every CLI a test runs (unless the test gives its own): the user
 * config of whoever runs the suite (~/.config/koor/config.json) is never read, nor written.
 */
function emptyConfigHome(): string {
  if (configHome === null) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'koor-xdg-'));
    configHome = dir;
    process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  }
  return configHome;
}

/** What a command printed, how it exited, and how long it ran. */
export interface PipedRun {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/**
 * Runs a command with `input` on its stdin, as a coding agent runs a hook: its output collected,
 * killed if it has not exited after `killMs`.
 */
export function runPiped(cmd: string, args: string[], input: string, opts: { env: NodeJS.ProcessEnv; cwd: string; killMs?: number }): Promise<PipedRun> {
  const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, stdio: ['pipe', 'pipe', 'pipe'] });
  const run = collected(child, opts.killMs ?? 30_000);
  child.stdin.end(input);
  return run.then(({ code, stdout, stderr, ms }) => ({ code, stdout, stderr, ms }));
}

/** A child's stdout and stderr until it exits (SIGKILL after `killMs`), its exit code or signal, and how long it ran. */
function collected(child: ChildProcess, killMs: number): Promise<CliResult & { ms: number }> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), killMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started });
    });
  });
}

/** The CLI's environment: a clean one (no KOOR_* of the outside), an empty user config, then `extra`. */
export function cliEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return cleanEnv({ XDG_CONFIG_HOME: emptyConfigHome(), ...extra });
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  cwd?: string;
  /** Added to a clean environment (KOOR_SERVER / KOOR_TOKEN from the outside never leak in). */
  env?: Record<string, string>;
  timeoutMs?: number;
}

/** Runs `node dist/cli-cjs/main.js …args` to completion. */
export function runCli(args: string[], opts: RunOptions = {}): Promise<CliResult> {
  const child = spawn(...nodeCommand(CLI_JS, args), { cwd: opts.cwd ?? emptyCwd(), env: cliEnv(opts.env), stdio: ['ignore', 'pipe', 'pipe'] });
  return collected(child, opts.timeoutMs ?? 20_000).then(({ code, signal, stdout, stderr }) => ({ code, signal, stdout, stderr }));
}

/** `koor-cli` bound to one server (through KOOR_SERVER) and a working directory. */
export function cliFor(server: string, cwd: string, env: Record<string, string> = {}) {
  return (...args: string[]) => runCli(args, { cwd, env: { KOOR_SERVER: server, ...env } });
}

export function writeSettings(dir: string, value: unknown): void {
  fs.writeFileSync(path.join(dir, 'settings.json'), typeof value === 'string' ? value : JSON.stringify(value));
}

/** A long-running CLI (events subscribe) with line access to its output. */
/**
 * The CLI's exit status, or null when it is still running after `ms`. The timer is cleared when
 * the CLI exits first: a bare `Promise.race` with a sleep kept the test file's process alive for
 * the rest of every such sleep.
 */
export function exitWithin(cli: LiveCli, ms: number): Promise<{ code: number | null; signal: NodeJS.Signals | null } | null> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([cli.exited, new Promise<null>((r) => (timer = setTimeout(() => r(null), ms)))]).finally(() => clearTimeout(timer));
}

export interface LiveCli {
  child: ChildProcess;
  /** Complete stdout lines so far. */
  lines(): string[];
  stderr(): string;
  /** Resolves when `pred` holds for the output (checked on every chunk); rejects at the timeout. */
  until(pred: () => boolean, what: string, timeoutMs?: number): Promise<void>;
  /** Sends a signal and resolves with the exit status. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function startCli(args: string[], opts: RunOptions & { teardown: (fn: () => unknown) => void }): LiveCli {
  const child = spawn(...nodeCommand(CLI_JS, args), { cwd: opts.cwd ?? emptyCwd(), env: cliEnv(opts.env), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const checks = new Set<() => void>();
  const tick = () => {
    for (const c of [...checks]) c();
  };
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    tick();
  });
  child.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
    tick();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('close', (code, signal) => {
    resolve({ code, signal });
    tick();
  }));
  opts.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const lines = () => out.split('\n').slice(0, -1);
  return {
    child,
    lines,
    stderr: () => err,
    until(pred, what, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (pred()) {
            checks.delete(check);
            clearTimeout(timer);
            resolve();
          } else if (child.exitCode !== null || child.signalCode !== null) {
            checks.delete(check);
            clearTimeout(timer);
            reject(new Error(`CLI exited before: ${what}\nstdout: ${out.slice(-2000)}\nstderr: ${err}`));
          }
        };
        const timer = setTimeout(() => {
          checks.delete(check);
          reject(new Error(`timed out waiting for: ${what}\nstdout: ${out.slice(-2000)}\nstderr: ${err}`));
        }, timeoutMs);
        checks.add(check);
        check();
      });
    },
    stop(signal = 'SIGINT') {
      child.kill(signal);
      return exited;
    },
    exited,
  };
}

/**
 * A TCP proxy in front of a server, to cut connections the way a network or a restart does:
 * `drop()` destroys every proxied connection (the client sees an abrupt close), `refuse` makes it
 * hang up on new ones, and `target` can move to another backend port (a restarted server).
 */
export interface Proxy {
  url: string;
  target: number;
  refuse: boolean;
  drop(): void;
}

export async function startProxy(t: { teardown(fn: () => unknown): void }, target: number): Promise<Proxy> {
  const net = await import('node:net');
  const sockets = new Set<import('node:net').Socket>();
  const proxy: Proxy = {
    url: '',
    target,
    refuse: false,
    drop() {
      for (const s of sockets) s.destroy();
      sockets.clear();
    },
  };
  const server = net.createServer((client) => {
    if (proxy.refuse) return void client.destroy();
    const upstream = net.connect(proxy.target, '127.0.0.1');
    sockets.add(client);
    sockets.add(upstream);
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  proxy.url = `http://127.0.0.1:${(server.address() as import('node:net').AddressInfo).port}`;
  t.teardown(() => {
    proxy.drop();
    server.close();
  });
  return proxy;
}
