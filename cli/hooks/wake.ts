import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * `koor-cli wait --hook` as Claude Code's background wake-up: a Stop hook with
 * `asyncRewake`, which the client runs in the background and which wakes the model with the
 * hook's stderr when it exits 2 (test/helpers/CLAUDE-CODE-FACTS.md).
 */

/** The hook input on stdin (Claude Code's Stop input), read within `ms`; null when there is none. */
export function readHookInput(ms: number): Promise<{ session_id?: string; stop_hook_active?: boolean } | null> {
  if (process.stdin.isTTY) return Promise.resolve(null);
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const done = () => {
      clearTimeout(timer);
      process.stdin.pause();
      try {
        const v = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
        resolve(v !== null && typeof v === 'object' ? (v as { session_id?: string }) : null);
      } catch {
        resolve(null);
      }
    };
    const timer = setTimeout(done, ms);
    process.stdin.on('data', (c: Buffer) => chunks.push(c));
    process.stdin.once('end', done);
    process.stdin.once('error', done);
  });
}

const cmdline = (pid: number): string[] | null => {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((s) => s !== '');
  } catch {
    return null;
  }
};
const parentOf = (pid: number): number | null => {
  try {
    // /proc/<pid>/stat: "pid (comm) state ppid …"; comm may hold spaces and parentheses.
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return null;
  }
};

/**
 * Whether the Claude Code process this hook runs under would wait for it: in print mode with a
 * text prompt (`claude -p "…"`) an asyncRewake hook runs in the foreground, so waiting would
 * hold the run up to the timeout (there is no turn to wake afterwards anyway); with
 * `--input-format stream-json` or interactively it runs in the background. Read from the
 * ancestors' command lines (Linux /proc; elsewhere assumed backgrounded).
 */
export function runsInForeground(): boolean {
  let pid: number | null = process.ppid;
  for (let depth = 0; pid !== null && pid > 1 && depth < 8; depth++) {
    const argv = cmdline(pid);
    if (argv && argv.some((a) => /(^|\/)claude(\.exe)?$/.test(a) || a.includes('claude-code'))) {
      const print = argv.includes('-p') || argv.includes('--print');
      const i = argv.indexOf('--input-format');
      const streaming = i >= 0 && argv[i + 1] === 'stream-json';
      return print && !streaming;
    }
    pid = parentOf(pid);
  }
  return false;
}

/**
 * One waiter per session: each Stop starts a new one while the last may still wait (a prompt came
 * before anything arrived); the newest replaces the older, so one arrival wakes the model once.
 */
export function singleWaiter(sessionId: string): () => void {
  const file = path.join(os.tmpdir(), `koor-wait-${sessionId.replace(/[^A-Za-z0-9_-]/g, '_')}.pid`);
  try {
    const old = Number(fs.readFileSync(file, 'utf8'));
    if (Number.isInteger(old) && old > 1 && old !== process.pid && (cmdline(old) ?? []).some((a) => a === 'wait')) process.kill(old, 'SIGTERM');
  } catch {
    // none before, or gone
  }
  try {
    fs.writeFileSync(file, String(process.pid));
  } catch {
    return () => {};
  }
  return () => {
    try {
      if (fs.readFileSync(file, 'utf8') === String(process.pid)) fs.rmSync(file, { force: true });
    } catch {
      // already replaced or removed
    }
  };
}
