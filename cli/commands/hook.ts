import { spawn } from 'node:child_process';
import { defineCommand, UsageError, writeErr, writeOut } from '../core.js';
import { bridge, BRIDGE_BUDGET_MS } from '../hooks/bridge.js';
import type { ClientAdapter } from '../hooks/clients/adapter.js';
import { adapterOf, CLIENTS } from '../hooks/clients/index.js';
import { helperFileProblem } from '../hooks/helper.js';

/**
 * The bridge for command hooks, one Node process per call: the client's hook input on stdin →
 * ../hooks/bridge.ts → the reply on stdout, in the client's format. `koor-hook <client>` (what
 * `init` installs) runs it only when its resident helper cannot answer, with `--helper <file>` so
 * that one starts. Fail-open: whatever goes wrong, it prints the client's "go on" and exits 0
 * within ~5 s, so a coordination outage never breaks the user's session.
 */

/** Everything, stdin included, is over by then; the process is gone a little later whatever happens. */
const BUDGET_MS = BRIDGE_BUDGET_MS;
const HARD_EXIT_MS = BUDGET_MS + 1_000;

/**
 * Starts the resident helper (../hooks/helper.ts) on `file`, detached: it outlives this process
 * and answers koor-hook's next calls. Any trouble: no helper, and koor-hook keeps falling back here.
 */
function startHelper(file: string): void {
  if (helperFileProblem(file) !== null || process.argv[1] === undefined) return;
  try {
    spawn(process.execPath, [process.argv[1], 'hook-helper', file], { detached: true, stdio: 'ignore', env: process.env }).unref();
  } catch {
    // no helper: every call takes this path
  }
}

function readStdin(until: number): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const done = () => {
      clearTimeout(timer);
      process.stdin.pause();
      resolve(Buffer.concat(chunks).toString('utf8'));
    };
    const timer = setTimeout(done, Math.max(0, until - Date.now()));
    process.stdin.on('data', (c: Buffer) => chunks.push(c));
    process.stdin.once('end', done);
    process.stdin.once('error', done);
  });
}

export default defineCommand({
  description: "Bridge a coding agent's command hook to Koor (stdin → server → stdout); never fails the session",
  details:
    `Reads the hook input JSON of <client> (${CLIENTS.join(', ')}) from stdin, posts it to the server as Claude Code hook input ` +
    '(POST /api/hooks/claude-code; other clients\' input translated), and prints the reply in the client\'s own output format. ' +
    'Headers come from the environment: KOOR_TOKEN (or the CLI config), KOOR_AGENT_NAME, KOOR_PROJECT (default: the repository\'s ' +
    'project, from its origin remote, else its folder name), KOOR_REPO_ROOT (default: CLAUDE_PROJECT_DIR, else the repository of the ' +
    'session\'s directory). --server beats KOOR_SERVER and ./settings.json. Fail-open: when the server is down, slow (~5 s) or answers ' +
    'an error, it prints the client\'s "go on" (nothing, or Cursor\'s {}), notes it in one stderr line and exits 0. `koor-cli init --<client>` ' +
    'installs `koor-hook <client>`, which asks a resident helper (`koor-cli hook-helper`) in a few ms and runs this command only when that helper cannot answer.',
  examples: [['Claude Code SessionStart hook', 'koor-cli hook claude-code']],
  positionals: [{ name: 'client' }],
  options: {
    server: { description: 'Post to this server (default: KOOR_SERVER, else ./settings.json)' },
    helper: { description: "koor-hook's helper file: start the resident helper on it after answering (koor-hook passes it)" },
  },
  async run({ pos, opt, ctx: given }) {
    // A flag beats the environment and the settings file.
    const ctx = opt.server === undefined ? given : { ...given, config: { ...given.config, server: opt.server.replace(/\/+$/, '') } };
    const adapter: ClientAdapter | undefined = adapterOf(pos.client);
    if (adapter === undefined) throw new UsageError(`unknown client ${pos.client}: expected ${CLIENTS.join(', ')}`);
    const until = Date.now() + BUDGET_MS;
    // Whatever hangs (a stdin never closed, a socket), the session gets its answer: none.
    setTimeout(() => process.exit(0), HARD_EXIT_MS);
    const raw = await readStdin(until);
    const answer = await bridge(adapter, raw, process.env, ctx.cwd, ctx.config, until);
    if (answer.out !== '') writeOut(answer.out);
    for (const n of answer.notes) writeErr(n);
    // koor-hook found no helper to answer it: one starts for the next call.
    if (opt.helper !== undefined) startHelper(opt.helper);
    return 0;
  },
});
