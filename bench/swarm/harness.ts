/**
 * What an arm of the swarm puts around its sessions, outside Koor and the clients: koor-cli and
 * koor-hook on the PATH (with a log of every `koor-cli wait`), a timing pass-through for HTTP
 * hooks, and the process tree of a session (to let its waiters go, or to kill it all).
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { sleep } from '../lib/async.js';
import { REPO_ROOT } from '../lib/suite.js';

/** The built CLI the sessions run (and koor-hook beside it). */
export const CLI_JS = path.join(REPO_ROOT, 'dist', 'cli-cjs', 'main.js');

/**
 * `koor-cli` and `koor-hook` first on the client's PATH: the built CLI and the built koor-hook
 * (whose resident helper leaves 2 minutes after the arm's last hook). A `koor-cli wait` (the Stop
 * hook's waiter, or an agent's Bash wait) also logs when it returned and how (`<epoch ms> <exit
 * code> <agent> <args>` in `log`), which splits a wake-up into Koor's part and the client's.
 */
export function cliShim(bin: string, log: string): string {
  fs.mkdirSync(bin, { recursive: true });
  const run = `'${process.execPath}' '${CLI_JS}' "$@"`;
  fs.writeFileSync(path.join(bin, 'koor-cli'), `#!/bin/sh\nexport KOOR_HOOK_IDLE_S=120\nif [ "$1" = wait ]; then ${run}; c=$?; echo "$(date +%s%3N) $c $KOOR_AGENT_NAME $*" >> '${log}'; exit $c; fi\nexec ${run}\n`, { mode: 0o755 });
  if (!fs.existsSync(path.join(bin, 'koor-hook'))) fs.symlinkSync(path.join(path.dirname(CLI_JS), 'koor-hook'), path.join(bin, 'koor-hook'));
  return `${bin}:${process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin'}`;
}

/** One Claude Code hook call the idle session made: its event, when it reached Koor and when Koor's answer was back. */
export interface HookCall {
  event: string;
  /** The calling session's agent (its X-Koor-Agent-Name). */
  agent: string;
  in: number;
  out: number;
}

/**
 * A pass-through to `target` for the idle session's HTTP hooks (its .claude/settings.json points
 * there; its koor-cli does not): it notes when each hook call arrived and when the server's answer
 * was back, which splits a wake-up's client part at Koor's UserPromptSubmit hook.
 */
export async function hookTimer(target: string): Promise<{ url: string; calls: HookCall[]; close(): Promise<void> }> {
  const calls: HookCall[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const at = Date.now();
      const body = Buffer.concat(chunks);
      let event = '';
      try {
        event = String((JSON.parse(body.toString('utf8')) as { hook_event_name?: unknown }).hook_event_name ?? '');
      } catch {
        // not JSON: passed on as it is
      }
      const headers = { ...req.headers, host: new URL(target).host };
      const up = http.request(`${target}${req.url ?? '/'}`, { method: req.method, headers }, (r) => {
        const out: Buffer[] = [];
        r.on('data', (c: Buffer) => out.push(c));
        r.on('end', () => {
          calls.push({ event, agent: String(req.headers['x-koor-agent-name'] ?? ''), in: at, out: Date.now() });
          res.writeHead(r.statusCode ?? 502, r.headers).end(Buffer.concat(out));
        });
      });
      up.on('error', (e) => res.writeHead(502).end(e.message));
      up.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** The waits the shim logged: when each returned, its exit code, the agent, whether it was the Stop hook's. */
export function waitsOf(log: string): Array<{ at: number; code: number; agent: string; hook: boolean }> {
  if (!fs.existsSync(log)) return [];
  return fs
    .readFileSync(log, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      const [at, code, agent, ...args] = l.split(' ');
      return { at: Number(at), code: Number(code), agent: agent ?? '', hook: args.includes('--hook') };
    });
}

/** Every descendant of `pid` (from /proc: ppid links). */
function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const n of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(n)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${n}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (!children.has(ppid)) children.set(ppid, []);
      children.get(ppid)!.push(Number(n));
    } catch {
      // gone
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const c of children.get(p) ?? []) {
      out.push(c);
      walk(c);
    }
  };
  walk(pid);
  return out;
}

/** SIGTERM to each descendant of `pid` running `koor-cli wait` (a session's Bash wait or its Stop hook's waiter). */
function stopWaiters(pid: number): number {
  let n = 0;
  for (const d of descendants(pid)) {
    try {
      const cmd = fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0');
      if (cmd.some((a) => a.endsWith('main.js')) && cmd.includes('wait')) {
        process.kill(d, 'SIGTERM');
        n++;
      }
    } catch {
      // gone
    }
  }
  return n;
}

/** SIGKILL to `pid` and every process under it. */
function killTree(pid: number): void {
  for (const p of [pid, ...descendants(pid)]) try { process.kill(p, 'SIGKILL'); } catch { /* gone */ }
}

/** Until `what` holds, or `ms` have passed. */
async function waitFor(what: () => boolean, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (!what() && Date.now() < until) await sleep(100);
}

/**
 * The end of an arm's sessions (`pids`: each one's client process, by name): the load stops;
 * sessions blocked in `koor-cli wait` are let go (nothing will come), the idle one's stdin closed
 * (`closeIdle`); a session that still does not end is killed, with a warning.
 */
export async function endSessions(sessions: ReadonlyArray<{ name: string; role: string; endedAt: number }>, pids: ReadonlyMap<string, number>, idleName: string, closeIdle: () => void, warn: (m: string) => void): Promise<void> {
  const workers = sessions.filter((r) => r.role !== 'idle' && r.role !== 'load');
  const workersEnded = () => workers.every((r) => r.endedAt > 0);
  for (const r of sessions) {
    const pid = r.role === 'load' && r.endedAt === 0 ? pids.get(r.name) : undefined;
    if (pid !== undefined) killTree(pid);
  }
  await waitFor(workersEnded, 3000);
  for (const r of workers) if (r.endedAt === 0 && pids.has(r.name)) stopWaiters(pids.get(r.name)!);
  await waitFor(workersEnded, 20_000);
  closeIdle();
  await sleep(300);
  const idlePid = pids.get(idleName);
  if (idlePid !== undefined) stopWaiters(idlePid);
  await waitFor(() => sessions.every((r) => r.endedAt > 0), 20_000);
  for (const r of sessions) {
    if (r.endedAt > 0) continue;
    warn(`${r.name} did not end; killed`);
    const pid = pids.get(r.name);
    if (pid !== undefined) killTree(pid);
  }
}
