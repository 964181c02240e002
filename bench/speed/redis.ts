/** Redis as the speed suite's reference: redis-server on core 0 with an append-only file, redis-benchmark on core 1. */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { sleep } from '../lib/async.js';
import { freePort } from '../lib/processes.js';
import { CONNECTIONS, KEYS } from './drive.js';

/** redis-server on core 0 with an append-only file fsynced `always` or `everysec`; null if absent. */
export async function startRedis(dir: string, fsync: 'always' | 'everysec'): Promise<{ port: number; child: ChildProcess } | null> {
  const port = await freePort();
  const child = spawn('taskset', ['-c', '0', 'redis-server', '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--appendfsync', fsync, '--dir', dir, '--daemonize', 'no'], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    await sleep(50);
    try {
      execFileSync('redis-cli', ['-p', String(port), 'ping'], { stdio: 'ignore', timeout: 1000 });
      return { port, child };
    } catch {
      // not up yet
    }
  }
  child.kill('SIGKILL');
  return null;
}

/**
 * redis-benchmark on core 1: requests/s per test (`-q --csv`), and each test's p99 in ms as
 * `<test>_p99` (Redis 7's CSV: test, rps, avg, min, p50, p95, p99, max).
 */
export function redisBench(port: number, tests: string, n: number, connections = CONNECTIONS): Record<string, number> {
  const out = execFileSync('taskset', ['-c', '1', 'redis-benchmark', '-p', String(port), '-c', String(connections), '-n', String(n), '-d', '1024', '-r', String(KEYS), '-t', tests, '-q', '--csv'], {
    encoding: 'utf8',
    timeout: 300_000,
  });
  const res: Record<string, number> = {};
  for (const line of out.split('\n')) {
    const m = /^"([A-Z]+)[^"]*","([\d.]+)"(?:,"[\d.]+","[\d.]+","[\d.]+","[\d.]+","([\d.]+)")?/.exec(line);
    if (!m) continue;
    res[m[1]!.toLowerCase()] = Math.round(Number(m[2]));
    if (m[3] !== undefined) res[`${m[1]!.toLowerCase()}_p99`] = Number(m[3]);
  }
  return res;
}
