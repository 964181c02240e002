/**
 * The servers bench/peers compares, each started alone on loopback, pinned to core 0, with its
 * durability stated: koor-server `--sync full` (each write's commit fsync'd before the reply),
 * etcd (fsyncs its WAL before acknowledging), Redis `appendonly yes, appendfsync always`, NATS
 * JetStream (2.9: a KV put is acknowledged once written to the OS, NOT fsync'd; sync_interval
 * 2 min). Debian's packages are installed on demand (apt-get update, then install); a server that
 * cannot be installed is skipped with the reason.
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { sleep } from '../lib/async.js';
import { makeTempDir, trackChild } from '../lib/cleanup.js';
import { freePort, have, pin, spawnNode } from '../lib/processes.js';
import { BENCH_DIST_DIR, KOOR_MAIN_JS } from '../lib/suite.js';
import { Nats } from './proto-nats.js';
import { Redis } from './proto-redis.js';
import type { PeerKind } from './ops.js';

export interface Peer {
  /** Row label: koor, koor (base), cas floor, etcd, redis, nats. */
  label: string;
  kind: PeerKind;
  pid: number;
  port: number;
  version: string;
  durability: string;
  stop(): Promise<void>;
}

export const DURABILITY: Record<PeerKind, string> = {
  koor: '--sync full: the SQLite WAL synced (fdatasync) at each commit before the reply',
  etcd: 'WAL fsync before the reply (etcd default)',
  redis: 'appendonly yes, appendfsync always: AOF fsync before the reply',
  nats: 'JetStream file store, NOT fsync\'d per put (2.9: written to the OS, fsync every 2 min)',
};

const PACKAGES: Record<Exclude<PeerKind, 'koor'>, { bin: string; pkg: string[] }> = {
  etcd: { bin: 'etcd', pkg: ['etcd-server'] },
  redis: { bin: 'redis-server', pkg: ['redis-server'] },
  nats: { bin: 'nats-server', pkg: ['nats-server'] },
};

let aptUpdated = false;
/** Installs the Debian package of a missing server; the reason it cannot, or null when present. */
export function ensureInstalled(kind: Exclude<PeerKind, 'koor'>, log: (m: string) => void): string | null {
  const { bin, pkg } = PACKAGES[kind];
  if (have(bin)) return null;
  if (!have('apt-get')) return `${bin} missing and no apt-get`;
  if (process.getuid?.() !== 0) return `${bin} missing and not root (apt-get install ${pkg.join(' ')})`;
  try {
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    if (!aptUpdated) {
      log('  apt-get update…');
      execFileSync('apt-get', ['update', '-q'], { stdio: 'ignore', timeout: 180_000, env });
      aptUpdated = true;
    }
    log(`  apt-get install ${pkg.join(' ')}…`);
    execFileSync('apt-get', ['install', '-y', '-q', ...pkg], { stdio: 'ignore', timeout: 300_000, env });
  } catch (e) {
    return `apt-get install ${pkg.join(' ')} failed: ${(e as Error).message.split('\n')[0]}`;
  }
  return have(bin) ? null : `${bin} still missing after apt-get install ${pkg.join(' ')}`;
}

function versionOf(cmd: string, args: string[], re: RegExp): string {
  try {
    return re.exec(execFileSync(cmd, args, { encoding: 'utf8', timeout: 5000 }))?.[1] ?? '?';
  } catch {
    return '?';
  }
}

async function until(what: string, f: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    try {
      if (await f()) return;
    } catch {
      // not up yet
    }
    await sleep(50);
  }
  throw new Error(`${what} did not start within ${ms} ms`);
}

/** A server binary under `taskset -c 0` (taskset execs it: the pid is the server's). */
function spawnPinned(cmd: string, args: string[]): ReturnType<typeof spawn> {
  const child = spawn('taskset', ['-c', '0', cmd, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => {
    err = (err + d.toString()).slice(-4096);
  });
  (child as unknown as { tail: () => string }).tail = () => err;
  trackChild(child);
  return child;
}

function stopper(child: ReturnType<typeof spawn>, remove: () => void): () => Promise<void> {
  return () =>
    new Promise<void>((resolve) => {
      const done = () => {
        remove();
        resolve();
      };
      if (child.exitCode !== null || child.signalCode !== null) return done();
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      child.once('exit', () => {
        clearTimeout(t);
        done();
      });
      child.kill('SIGTERM');
    });
}

/** koor-server from dist (or `main`, another build's dist/src/main.js), `--sync full`, pinned to core 0. */
export async function startKoor(label: string, main = KOOR_MAIN_JS): Promise<Peer> {
  const tmp = makeTempDir('koor-peers-');
  const p = await spawnNode(label, main, ['--bind', '127.0.0.1:0', '--dashboard-bind', '', '--data-dir', tmp.dir, '--sync', 'full', '--rate-limit', '0'], { cwd: tmp.dir, dir: tmp.remove });
  pin(p.pid, 0);
  let version = '?';
  try {
    version = (JSON.parse(fs.readFileSync(path.join(path.dirname(main), '..', '..', 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    // unknown
  }
  return { label, kind: 'koor', pid: p.pid, port: p.port, version, durability: DURABILITY.koor, stop: () => p.stop() };
}

/**
 * The floor of contended compare-and-set in koor's shape (bench/baselines/uws.ts: a uWS thread
 * deciding compares, a writer thread storing koor's rows, FULL sync), spoken to as koor; pinned
 * to core 0. Only the cas row runs on it.
 */
export async function startCasFloor(): Promise<Peer> {
  const tmp = makeTempDir('koor-peers-floor-');
  const p = await spawnNode('cas floor', path.join(BENCH_DIST_DIR, 'baselines', 'uws.js'), ['0', path.join(tmp.dir, 'floor.db'), 'full', 'thread', 'features'], { cwd: tmp.dir, dir: tmp.remove });
  pin(p.pid, 0);
  return { label: 'cas floor', kind: 'koor', pid: p.pid, port: p.port, version: '-', durability: 'synchronous FULL: the SQLite WAL synced at each commit before the reply', stop: () => p.stop() };
}

export async function startEtcd(): Promise<Peer> {
  const tmp = makeTempDir('etcd-peers-');
  const port = await freePort();
  const peerPort = await freePort();
  const child = spawnPinned('etcd', [
    '--name', 'peers',
    '--data-dir', path.join(tmp.dir, 'data'),
    '--listen-client-urls', `http://127.0.0.1:${port}`,
    '--advertise-client-urls', `http://127.0.0.1:${port}`,
    '--listen-peer-urls', `http://127.0.0.1:${peerPort}`,
    '--initial-advertise-peer-urls', `http://127.0.0.1:${peerPort}`,
    '--initial-cluster', `peers=http://127.0.0.1:${peerPort}`,
    '--logger', 'zap', '--log-level', 'error',
  ]);
  const stop = stopper(child, tmp.remove);
  try {
    await until('etcd', async () => {
      if (child.exitCode !== null) throw new Error(`etcd exited: ${(child as unknown as { tail: () => string }).tail()}`);
      const r = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(1000) });
      return r.ok && ((await r.json()) as { health: string }).health === 'true';
    });
  } catch (e) {
    await stop();
    throw e;
  }
  return { label: 'etcd', kind: 'etcd', pid: child.pid!, port, version: versionOf('etcd', ['--version'], /etcd Version: (\S+)/), durability: DURABILITY.etcd, stop };
}

export async function startRedis(): Promise<Peer> {
  const tmp = makeTempDir('redis-peers-');
  const port = await freePort();
  const child = spawnPinned('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--appendfsync', 'always', '--dir', tmp.dir, '--daemonize', 'no']);
  const stop = stopper(child, tmp.remove);
  try {
    await until('redis-server', async () => {
      const r = await Redis.connect(port);
      try {
        return String(await r.command('PING')) === 'PONG';
      } finally {
        r.close();
      }
    });
  } catch (e) {
    await stop();
    throw e;
  }
  return { label: 'redis', kind: 'redis', pid: child.pid!, port, version: versionOf('redis-server', ['--version'], /v=(\S+)/), durability: DURABILITY.redis, stop };
}

export async function startNats(): Promise<Peer> {
  const tmp = makeTempDir('nats-peers-');
  const port = await freePort();
  const child = spawnPinned('nats-server', ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', tmp.dir]);
  const stop = stopper(child, tmp.remove);
  try {
    await until('nats-server', async () => {
      const n = await Nats.connect(port, 1000);
      try {
        await n.api('$JS.API.INFO');
        return true;
      } finally {
        n.close();
      }
    });
  } catch (e) {
    await stop();
    throw e;
  }
  return { label: 'nats', kind: 'nats', pid: child.pid!, port, version: versionOf('nats-server', ['--version'], / v(\S+)/), durability: DURABILITY.nats, stop };
}
