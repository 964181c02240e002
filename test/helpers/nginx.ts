import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import { provided, type Needed } from './apt.js';

export function findNginx(): string | null {
  for (const p of ['/usr/sbin/nginx', '/usr/bin/nginx', '/usr/local/sbin/nginx', '/usr/local/bin/nginx']) if (fs.existsSync(p)) return p;
  const r = spawnSync('sh', ['-c', 'command -v nginx'], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.trim() !== '' ? r.stdout.trim() : null;
}

export const NGINX: Needed = { pkg: 'nginx', find: findNginx };

/** nginx's path (installed by the test setup, test/setup/install.ts), or why it cannot be had. */
export function ensureNginx(): { path: string } | { skip: string } {
  return provided(NGINX);
}

/** `n` distinct free loopback ports (all held open until each is known, then released). */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, () => new Promise<net.Server>((resolve, reject) => {
      const s = net.createServer();
      s.once('error', reject);
      s.listen(0, '127.0.0.1', () => resolve(s));
    })),
  );
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

/**
 * nginx in the foreground (`daemon off;` appended to `globals`), stopped at teardown (SIGTERM, then
 * SIGKILL after 5 s). `exited` and `stderr` tell a caller waiting for it to listen why it did not.
 */
export function runNginx(t: { teardown(fn: () => unknown): void }, nginxPath: string, args: string[], globals = ''): { exited: () => boolean; stderr: () => string } {
  const proc = spawn(nginxPath, [...args, '-g', `${globals}${globals ? ' ' : ''}daemon off;`], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  let exited = false;
  const exit = new Promise<void>((resolve) => proc.once('exit', () => ((exited = true), resolve())));
  t.teardown(async () => {
    if (exited) return;
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 5_000);
    await exit;
    clearTimeout(timer);
  });
  return { exited: () => exited, stderr: () => err };
}
