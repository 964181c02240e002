/**
 * One command-hook call, bridged: a client's hook input → POST /api/hooks/claude-code (translated
 * by the client's adapter) → the reply in the client's own output format. `koor-cli hook <client>`
 * runs it once per process; the resident helper (./helper.ts) runs it for every call `koor-hook`
 * hands it. Fail-open: whatever goes wrong (no server, a slow one, an error status, bad input), the
 * answer is the client's "go on" and one note says why.
 */
import path from 'node:path';
import { CliError, request, type CliConfig } from '../core.js';
import type { ClientAdapter } from './clients/adapter.js';
import { HOOK_PATH } from './files.js';
import { repoRootOf } from './translate.js';
import { repoProject } from '../project.js';

/** Everything, stdin included, is over by then. */
export const BRIDGE_BUDGET_MS = 5_000;

/** What the hook prints: `out` on stdout (may be empty), each note as one stderr line. */
export interface BridgeAnswer {
  out: string;
  notes: string[];
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

/**
 * Bridges one hook call: `raw` is the client's input as read from stdin, `cwd` the hook's working
 * directory, `env` its environment, `until` the deadline (epoch ms).
 */
export async function bridge(adapter: ClientAdapter, raw: string, env: NodeJS.ProcessEnv, cwd: string, config: CliConfig, until: number): Promise<BridgeAnswer> {
  const notes: string[] = [];
  const note = (why: string) => notes.push(`koor: hook not delivered (${why}); the session goes on`);
  const line = (out: Record<string, unknown> | null) => (out === null ? '' : `${JSON.stringify(out)}\n`);
  // Copilot CLI also runs the Claude Code hooks of .claude/settings.json; its own are in
  // .github/hooks (init --copilot): heard once, through those.
  if (adapter.name === 'claude-code' && env.COPILOT_CLI === '1') return { out: '', notes };
  let input: unknown;
  try {
    input = JSON.parse(raw);
  } catch {
    note(raw.trim() === '' ? 'no hook input on stdin' : 'hook input is not JSON');
    return { out: '', notes };
  }
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    note('hook input is not a JSON object');
    return { out: '', notes };
  }
  const p = adapter.plan(input as Record<string, unknown>, cwd);
  const failOpen = (why: string): BridgeAnswer => {
    note(why);
    return { out: line(adapter.failOpen(p)), notes };
  };
  const headers = koorHeaders(env, p.cwd, adapter.name);
  const inputs = await heldFirst(p.inputs, headers['x-koor-repo-root'] ?? '', headers['x-koor-project'] ?? '', { ...config, timeoutMs: Math.max(1, Math.min(1_000, until - Date.now())) });
  const replies: Record<string, unknown>[] = [];
  for (const body of inputs) {
    const left = until - Date.now();
    if (left <= 0) return failOpen('timeout');
    let status: number;
    let text: string;
    try {
      // Claude Code's input goes as received; the others as translated.
      const r = await request({ ...config, timeoutMs: left }, 'POST', HOOK_PATH, { body: adapter.passThrough ? raw : JSON.stringify(body), headers });
      status = r.status;
      text = r.body.toString('utf8');
    } catch (e) {
      return failOpen(e instanceof CliError ? e.message : String(e));
    }
    if (status < 200 || status > 299) return failOpen(`HTTP ${status} from ${config.server}${HOOK_PATH}`);
    let parsed: unknown = {};
    if (text.trim() !== '') {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = null;
      }
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return failOpen('the reply is not a JSON object');
    replies.push(parsed as Record<string, unknown>);
    const hso = (parsed as { hookSpecificOutput?: { permissionDecision?: unknown } }).hookSpecificOutput;
    // An edit touching several files is denied as soon as one of them is.
    if (hso?.permissionDecision === 'deny') break;
  }
  if (p.inputs.length === 0) return { out: line(adapter.failOpen(p)), notes };
  return { out: line(adapter.reply(p, replies)), notes };
}
