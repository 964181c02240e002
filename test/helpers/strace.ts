import fs from 'node:fs';
import { spawn } from 'node:child_process';
import { provided, type Needed } from './apt.js';

/** Debian's strace: attached to a running server to count the system calls behind a guarantee. */
export const STRACE: Needed = {
  pkg: 'strace',
  find: () => ['/usr/bin/strace', '/bin/strace'].find((p) => fs.existsSync(p)) ?? null,
};

/** strace's path (installed by the test setup, test/setup/install.ts), or why it cannot be had. */
export function ensureStrace(): { path: string } | { skip: string } {
  return provided(STRACE);
}

/**
 * Attaches strace to every thread of `pid`, tracing `calls` with file descriptors shown as paths
 * (`-y`); resolves once it is attached. `stop()` detaches and returns the trace's lines.
 */
export async function attachStrace(bin: string, pid: number, calls: readonly string[], out: string): Promise<{ stop(): Promise<string[]> }> {
  const child = spawn(bin, ['-f', '-y', '-e', `trace=${calls.join(',')}`, '-o', out, '-p', String(pid)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  // "Process N attached with M threads": every thread is traced from here on.
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`strace did not attach within 10 s: ${err}`)), 10_000);
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      if (/attached/.test(err)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`strace exited ${code}: ${err}`));
    });
  });
  return {
    async stop() {
      child.kill('SIGINT');
      await exited;
      return fs.readFileSync(out, 'utf8').split('\n').filter(Boolean);
    },
  };
}
