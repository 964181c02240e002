/**
 * A throwaway PostgreSQL for benchmarks: Debian's `postgresql` binaries, `initdb` and
 * `pg_ctl` in a temp dir, run as the `postgres` user (the server refuses root), listening on
 * loopback only, durable settings (fsync, synchronous_commit on, full_page_writes). Returns null
 * with the reason when the binaries or the user are missing; the caller says so and skips.
 */
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openPg } from '../../src/shared/pg.js';
import { allProcs } from './cpu.js';
import { freePort, pin } from './processes.js';

export interface Postgres {
  url: string;
  port: number;
  /** The postmaster's pid (its backends are its children). */
  pid: number;
  version: string;
  /** pg_ctl restart (fast): every session ends; the server is back when this returns. */
  restart(): void;
  /** The same without blocking this process's event loop; `downMs`: stay stopped this long first. */
  restartAsync(downMs?: number): Promise<void>;
  stop(): void;
}

/** The newest installed server's bin dir (/usr/lib/postgresql/<major>/bin), or null. */
export function postgresBinDir(): string | null {
  const root = '/usr/lib/postgresql';
  try {
    const majors = fs
      .readdirSync(root)
      .filter((d) => /^\d+$/.test(d))
      .sort((a, b) => Number(b) - Number(a));
    for (const m of majors) if (fs.existsSync(path.join(root, m, 'bin', 'pg_ctl'))) return path.join(root, m, 'bin');
  } catch {
    // not installed
  }
  return null;
}

const execFileAsync = promisify(execFile);
const asPostgresAsync = (bin: string, args: string[]) => execFileAsync('runuser', ['-u', 'postgres', '--', bin, ...args], { encoding: 'utf8', timeout: 120_000 });
const asPostgres = (bin: string, args: string[]) => execFileSync('runuser', ['-u', 'postgres', '--', bin, ...args], { encoding: 'utf8', timeout: 120_000, stdio: ['ignore', 'pipe', 'pipe'] });

/** Starts a fresh server; `settings` are extra `-c name=value` pairs. */
export async function startPostgres(settings: Record<string, string> = {}): Promise<Postgres | { skipped: string }> {
  const bin = postgresBinDir();
  if (!bin) return { skipped: 'PostgreSQL server binaries not found (apt-get install postgresql)' };
  if (process.getuid?.() !== 0) return { skipped: 'starting PostgreSQL as the postgres user needs root (runuser)' };
  try {
    execFileSync('id', ['postgres'], { stdio: 'ignore' });
  } catch {
    return { skipped: 'no postgres user (apt-get install postgresql creates it)' };
  }
  // Its own top-level temp dir: mkdtemp's 0700 parents would keep the postgres user out.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'koor-pg-'));
  fs.chmodSync(dir, 0o755);
  const data = path.join(dir, 'data');
  fs.mkdirSync(data, { mode: 0o700 });
  execFileSync('chown', ['-R', 'postgres:postgres', dir]);
  const port = await freePort();
  const remove = () => fs.rmSync(dir, { recursive: true, force: true });
  const opts = [`-p ${port}`, `-k ${dir}`, '-c listen_addresses=127.0.0.1', '-c fsync=on', '-c synchronous_commit=on', '-c full_page_writes=on', ...Object.entries(settings).map(([k, v]) => `-c ${k}=${v}`)];
  try {
    asPostgres(path.join(bin, 'initdb'), ['-D', data, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--no-instructions']);
    asPostgres(path.join(bin, 'pg_ctl'), ['-D', data, '-l', path.join(dir, 'server.log'), '-o', opts.join(' '), '-w', '-t', '60', 'start']);
  } catch (e) {
    const log = fs.existsSync(path.join(dir, 'server.log')) ? fs.readFileSync(path.join(dir, 'server.log'), 'utf8').slice(-500) : '';
    remove();
    return { skipped: `PostgreSQL did not start: ${(e as Error).message.split('\n')[0]} ${log}` };
  }
  const pid = Number(fs.readFileSync(path.join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
  const version = execFileSync(path.join(bin, 'postgres'), ['--version'], { encoding: 'utf8' }).trim();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    pid,
    version,
    restart: () => {
      asPostgres(path.join(bin, 'pg_ctl'), ['-D', data, '-l', path.join(dir, 'server.log'), '-m', 'fast', '-w', '-t', '60', 'restart']);
    },
    restartAsync: async (downMs = 0) => {
      const ctl = path.join(bin, 'pg_ctl');
      await asPostgresAsync(ctl, ['-D', data, '-m', 'fast', '-w', '-t', '60', 'stop']);
      if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
      await asPostgresAsync(ctl, ['-D', data, '-l', path.join(dir, 'server.log'), '-o', opts.join(' '), '-w', '-t', '60', 'start']);
    },
    stop: () => {
      try {
        asPostgres(path.join(bin, 'pg_ctl'), ['-D', data, '-m', 'fast', '-w', 'stop']);
      } catch {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
      remove();
    },
  };
}

/** CPU seconds (user + system) of the postmaster and all its backends. */
export function postgresCpu(pid: number): number {
  let total = 0;
  for (const [p, c] of allProcs()) if (p === pid || c.ppid === pid) total += c.user + c.sys;
  return total;
}

/** Pins the postmaster and its backends to `cpu` (backends started later inherit it). */
export function pinPostgres(pgPid: number, cpu: number): void {
  pin(pgPid, cpu);
  for (const [pid, c] of allProcs()) if (c.ppid === pgPid) pin(pid, cpu);
}

/** A new empty database `name` on the server `pg` (dropped first if it exists); its URL. */
export async function createDatabase(pg: { url: string }, name: string): Promise<string> {
  const admin = openPg(pg.url, { max: 1, name: 'koor-admin' });
  try {
    await admin.unsafe(`DROP DATABASE IF EXISTS ${name}`);
    await admin.unsafe(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end({ timeout: 1 });
  }
  return pg.url.replace(/\/[^/?]*(\?|$)/, `/${name}$1`);
}
