import path from 'node:path';
import { CliError, defineCommand, request, UsageError, writeErr, writeOut, type CliConfig } from '../core.js';
import { HOOK_PATH } from '../hooks/files.js';
import type { ClientAdapter } from '../hooks/clients/adapter.js';
import { adapterOf, CLIENTS } from '../hooks/clients/index.js';
import { repoRootOf } from '../hooks/translate.js';
import { repoProject } from '../project.js';

/**
 * The bridge for command hooks (`koor-cli init --claude-code/--cursor/--codex` installs it): the
 * client's hook input on stdin → POST /api/hooks/claude-code (translated for Cursor and Codex) →
 * the reply on stdout, in the client's format. Fail-open: whatever goes wrong (no server, a slow
 * one, an error status, bad input), it prints nothing (Cursor: `{}`) and exits 0 within ~5 s, so a
 * coordination outage never breaks the user's session.
 */

/** Everything, stdin included, is over by then; the process is gone a little later whatever happens. */
const BUDGET_MS = 5_000;
const HARD_EXIT_MS = BUDGET_MS + 1_000;

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

/**
 * X-Koor-* headers from the environment; the repository root falls back to the client's project
 * dir, then to the enclosing repository; the project (KOOR_PROJECT) to the repository's own
 * (its origin remote, else its folder name: cli/project.ts).
 */
function koorHeaders(env: NodeJS.ProcessEnv, cwd: string, client: string): Record<string, string> {
  // Which client the session is (its agent's default name says so: codex-<repo>-<id>).
  const h: Record<string, string> = { 'x-koor-client': client };
  const clean = (v: string | undefined) => (v === undefined ? '' : v.replace(/[\r\n]/g, '').trim());
  const name = clean(env.KOOR_AGENT_NAME);
  // CLAUDE_PROJECT_DIR is the project's root in Claude Code, the session's directory in Gemini CLI: its repository either way.
  const projectDir = clean(env.CLAUDE_PROJECT_DIR);
  const root = clean(env.KOOR_REPO_ROOT) || (projectDir === '' ? '' : repoRootOf(projectDir)) || repoRootOf(cwd);
  const project = repoProject(root, env).project;
  if (name !== '') h['x-koor-agent-name'] = name;
  if (project !== '') h['x-koor-project'] = project;
  if (root !== '') h['x-koor-repo-root'] = root;
  return h;
}

/**
 * An edit of several files (a Codex apply_patch) is asked about file by file, and each free file
 * asked before a held one would be auto-leased although the edit is then refused: so the files
 * someone holds are asked first (POST /api/leases/check, one call), and a refusal comes before any
 * lease is taken. Any trouble with that call: the edit's own order.
 */
async function heldFirst(inputs: Record<string, unknown>[], root: string, project: string, config: CliConfig): Promise<Record<string, unknown>[]> {
  const fileOf = (i: Record<string, unknown>): string | undefined => {
    const ti = i.tool_input as { file_path?: unknown } | undefined;
    return i.hook_event_name === 'PreToolUse' && typeof ti?.file_path === 'string' ? ti.file_path : undefined;
  };
  if (inputs.length < 2 || root === '' || inputs.some((i) => fileOf(i) === undefined)) return inputs;
  const rel = (f: string) => path.relative(root, f).split(path.sep).join('/');
  const paths = inputs.map((i) => rel(fileOf(i)!));
  if (paths.some((p) => p === '' || p.startsWith('..') || path.isAbsolute(p))) return inputs;
  try {
    const r = await request(config, 'POST', '/api/leases/check', { body: JSON.stringify(project === '' ? { paths } : { paths, project }) });
    if (r.status !== 200) return inputs;
    const held = JSON.parse(r.body.toString('utf8')) as unknown;
    if (!Array.isArray(held)) return inputs;
    const leased = new Set(held.map((h: { path?: unknown }) => h?.path).filter((p): p is string => typeof p === 'string'));
    return [...inputs.filter((_, k) => leased.has(paths[k]!)), ...inputs.filter((_, k) => !leased.has(paths[k]!))];
  } catch {
    return inputs;
  }
}

export default defineCommand({
  description: "Bridge a coding agent's command hook to Koor (stdin → server → stdout); never fails the session",
  details:
    `Reads the hook input JSON of <client> (${CLIENTS.join(', ')}) from stdin, posts it to the server as Claude Code hook input ` +
    '(POST /api/hooks/claude-code; other clients\' input translated), and prints the reply in the client\'s own output format. ' +
    'Headers come from the environment: KOOR_TOKEN (or the CLI config), KOOR_AGENT_NAME, KOOR_PROJECT (default: the repository\'s ' +
    'project, from its origin remote, else its folder name), KOOR_REPO_ROOT (default: CLAUDE_PROJECT_DIR, else the repository of the ' +
    'session\'s directory). --server beats KOOR_SERVER and ./settings.json. Fail-open: when the server is down, slow (~5 s) or answers ' +
    'an error, it prints the client\'s "go on" (nothing, or Cursor\'s {}), notes it in one stderr line and exits 0. Installed by `koor-cli init --<client>`.',
  examples: [['Claude Code SessionStart hook', 'koor-cli hook claude-code']],
  positionals: [{ name: 'client' }],
  options: {
    server: { description: 'Post to this server (default: KOOR_SERVER, else ./settings.json)' },
  },
  async run({ pos, opt, ctx: given }) {
    // A flag beats the environment and the settings file.
    const ctx = opt.server === undefined ? given : { ...given, config: { ...given.config, server: opt.server.replace(/\/+$/, '') } };
    const adapter: ClientAdapter | undefined = adapterOf(pos.client);
    if (adapter === undefined) throw new UsageError(`unknown client ${pos.client}: expected ${CLIENTS.join(', ')}`);
    const client = adapter.name;
    // Copilot CLI also runs the Claude Code hooks of .claude/settings.json; its own are in
    // .github/hooks (init --copilot): heard once, through those.
    if (client === 'claude-code' && process.env.COPILOT_CLI === '1') return 0;
    const until = Date.now() + BUDGET_MS;
    // Whatever hangs (a stdin never closed, a socket), the session gets its answer: none.
    setTimeout(() => process.exit(0), HARD_EXIT_MS);
    const note = (why: string) => writeErr(`koor: hook not delivered (${why}); the session goes on`);

    const raw = await readStdin(until);
    let input: unknown;
    try {
      input = JSON.parse(raw);
    } catch {
      note(raw.trim() === '' ? 'no hook input on stdin' : 'hook input is not JSON');
      return 0;
    }
    if (input === null || typeof input !== 'object' || Array.isArray(input)) {
      note('hook input is not a JSON object');
      return 0;
    }
    const p = adapter.plan(input as Record<string, unknown>, ctx.cwd);
    const print = (out: Record<string, unknown> | null) => {
      if (out !== null) writeOut(`${JSON.stringify(out)}\n`);
    };

    const headers = koorHeaders(process.env, p.cwd, client);
    const inputs = await heldFirst(p.inputs, headers['x-koor-repo-root'] ?? '', headers['x-koor-project'] ?? '', { ...ctx.config, timeoutMs: Math.max(1, Math.min(1_000, until - Date.now())) });
    const replies: Record<string, unknown>[] = [];
    for (const body of inputs) {
      const left = until - Date.now();
      if (left <= 0) {
        note('timeout');
        print(adapter.failOpen(p));
        return 0;
      }
      const config: CliConfig = { ...ctx.config, timeoutMs: left };
      let status: number;
      let text: string;
      try {
        // Claude Code's input goes as received; the others as translated.
        const r = await request(config, 'POST', HOOK_PATH, { body: adapter.passThrough ? raw : JSON.stringify(body), headers });
        status = r.status;
        text = r.body.toString('utf8');
      } catch (e) {
        note(e instanceof CliError ? e.message : String(e));
        print(adapter.failOpen(p));
        return 0;
      }
      if (status < 200 || status > 299) {
        note(`HTTP ${status} from ${config.server}${HOOK_PATH}`);
        print(adapter.failOpen(p));
        return 0;
      }
      let parsed: unknown = {};
      if (text.trim() !== '') {
        try {
          parsed = JSON.parse(text);
        } catch {
          parsed = null;
        }
      }
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
        note('the reply is not a JSON object');
        print(adapter.failOpen(p));
        return 0;
      }
      replies.push(parsed as Record<string, unknown>);
      const hso = (parsed as { hookSpecificOutput?: { permissionDecision?: unknown } }).hookSpecificOutput;
      // An edit touching several files is denied as soon as one of them is.
      if (hso?.permissionDecision === 'deny') break;
    }
    if (p.inputs.length === 0) {
      print(adapter.failOpen(p));
      return 0;
    }
    print(adapter.reply(p, replies));
    return 0;
  },
});
