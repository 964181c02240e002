/**
 * The files `koor-cli init` writes into the workspace besides each client's hooks (./clients/):
 * the `koor` entry of the MCP client configs of Claude Code (.mcp.json) and Cursor
 * (.cursor/mcp.json), merged so other servers stay; the AGENTS.md section between markers, replaced
 * on rerun; the git pre-commit hook of `--hooks`. Each is planned (and checked) before anything is
 * written, and a plan says `unchanged` when a rerun would change nothing.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { CliError } from '../core.js';

type Outcome = 'created' | 'updated' | 'unchanged' | 'removed';

export interface Planned {
  file: string;
  /** null: the file is deleted. */
  text: string | null;
  outcome: Outcome;
  mode: number;
  /** Must end up executable (the git hook). */
  executable?: boolean;
}

export function readIfExists(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new CliError(`cannot read ${file}: ${(e as Error).message}`);
  }
}

// --- The MCP client configs ----------------------------------------------------------------------

export const MCP_FILES = ['.mcp.json', path.join('.cursor', 'mcp.json')];

/**
 * The `koor` entry of an MCP config: the configs name the token's variable (each client's own
 * syntax), never the token: they sit in the repository, where `git add` takes them.
 */
export function mcpEntry(server: string, token: string, rel: string): Record<string, unknown> {
  const entry: Record<string, unknown> = { type: 'http', url: `${server}/mcp` };
  if (token !== '') entry.headers = { Authorization: rel === '.mcp.json' ? 'Bearer ${KOOR_TOKEN}' : 'Bearer ${env:KOOR_TOKEN}' };
  return entry;
}

export function planMcp(cwd: string, rel: string, entry: Record<string, unknown> | null): Planned {
  const file = path.join(cwd, rel);
  const before = readIfExists(file);
  let doc: Record<string, unknown> = {};
  if (before !== null && before.trim() !== '') {
    let parsed: unknown;
    try {
      parsed = JSON.parse(before);
    } catch (e) {
      throw new CliError(`invalid JSON in ${rel}: ${(e as Error).message}; not touching it`);
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new CliError(`${rel} is not a JSON object; not touching it`);
    doc = parsed as Record<string, unknown>;
  }
  const servers = doc.mcpServers ?? {};
  if (servers === null || typeof servers !== 'object' || Array.isArray(servers)) throw new CliError(`"mcpServers" in ${rel} is not an object; not touching it`);
  if (entry === null) {
    // --remove: the koor entry out; an mcpServers (and a file) left empty with it goes too.
    if (before === null || !Object.hasOwn(servers, 'koor')) return { file, text: before, outcome: 'unchanged', mode: 0o644 };
    const { koor: _koor, ...others } = servers as Record<string, unknown>;
    const { mcpServers: _servers, ...rest } = doc;
    const next = Object.keys(others).length > 0 ? { ...doc, mcpServers: others } : rest;
    if (Object.keys(next).length === 0) return { file, text: null, outcome: 'removed', mode: 0o644 };
    return { file, text: JSON.stringify(next, null, 2) + '\n', outcome: 'updated', mode: 0o644 };
  }
  const text = JSON.stringify({ ...doc, mcpServers: { ...(servers as Record<string, unknown>), koor: entry } }, null, 2) + '\n';
  return { file, text, outcome: before === null ? 'created' : before === text ? 'unchanged' : 'updated', mode: 0o644 };
}

// --- AGENTS.md -----------------------------------------------------------------------------------

const AGENTS_BEGIN = '<!-- koor:begin — managed by `koor-cli init`; rerunning it replaces this section -->';
const AGENTS_END = '<!-- koor:end -->';
const SECTION_RE = /<!-- koor:begin[^\n]*-->[\s\S]*?<!-- koor:end -->\n?/;

/**
 * How koor-cli gets onto the PATH, said the same way wherever Koor says it (init's warning,
 * AGENTS.md, the MCP tool get_endpoints): there is no package on the npm registry, a clone of the
 * repository is the distribution. `npm pack` there makes a tarball holding the built files, for
 * other machines.
 */
const INSTALL_FROM_CLONE = 'in a clone of the Koor repository, `npm install && npm install -g .`';
export const INSTALL_HOW = `${INSTALL_FROM_CLONE}; on another machine, \`npm install -g ./koor-<version>.tgz\` (made by \`npm pack\` in the clone)`;

function agentsSection(server: string): string {
  return `${AGENTS_BEGIN}
## Koor: coordinating with other agents

This workspace shares state, specs and events with other agents through the Koor server at ${server}.

**Register over MCP, once per session.** The \`koor\` MCP server is configured in \`.mcp.json\` (Claude Code) and
\`.cursor/mcp.json\` (Cursor). Call \`register_instance\` with \`name\`, \`workspace\`, \`intent\` (and \`stack\`), keep
the returned \`instance_id\`, then run \`koor-cli activate <instance_id>\`. Use \`discover_instances\` to see who else
is working and \`set_intent\` when your task changes. After fixing a mistake others could repeat, call
\`propose_rule\` (the user reviews the rule). That is all MCP is for: discovery and proposals.

**Use \`koor-cli\` for all data**, never MCP: it talks to the REST API directly, so the data does not pass through
your context. Replies are JSON on stdout; exit code 0 = success, 1 = failure (an HTTP error's JSON is still printed).

| To | Run |
|---|---|
| read / write shared state | \`koor-cli state get <key>\` · \`koor-cli state set <key> --data '<json>'\` (or \`--file <path>\`) · \`koor-cli state list\` |
| see what changed | \`koor-cli state history <key>\` · \`koor-cli state diff <key> --v1 1 --v2 2\` |
| read / write a project's specs | \`koor-cli specs list <project>\` · \`koor-cli specs get <project>/<name>\` · \`koor-cli specs set <project>/<name> --file <path>\` |
| tell the others | \`koor-cli events publish <topic> --data '<json>'\` |
| catch up / wait for news | \`koor-cli events history --topic '<glob>' --last 20\` · \`koor-cli events subscribe '<glob>'\` (one JSON per line) |
| see who is around | \`koor-cli instances list\` |

**Share the work: claim → lease → work → done.** Say who you are once per shell: \`export KOOR_INSTANCE=<instance_id>\`
(or add \`--instance <instance_id>\` to each \`task\`/\`lease\` command); in a Claude Code or Codex session with Koor's
hooks you already are an agent: leave it unset, or its hooks refuse your own edits. Then, for each piece of work:

1. \`koor-cli task claim <project>\` takes the next ready task, yours alone (exit 1: nothing ready; \`koor-cli task list <project>\`).
2. \`koor-cli lease acquire '<glob>,<glob>' --reason 'task <id>'\` before editing files (paths from the repository root;
   \`*\` stays in one directory, \`**\` crosses them). Exit 1 = another agent holds some of them: the reply names who and
   what. Take other work or wait; never edit files leased by someone else. \`koor-cli lease check <path>\` tells who holds a file.
3. Do the work and commit (the pre-commit hook refuses files another agent has leased).
4. \`koor-cli lease release <lease_id>\`, then \`koor-cli task done <task_id>\` — or \`koor-cli task fail <task_id> --reason '…'\`
   (retried later) or \`koor-cli task release <task_id>\` (someone else takes it).

Leases and claims last while you are alive: every \`koor-cli\` call with your identity counts; after minutes of silence they
are released for others. Add tasks with \`koor-cli task add <project> '<title>' [--deps 3,4] [--priority 5]\`.

Add \`--pretty\` to indent JSON; \`koor-cli <command> --help\` explains any command. For raw HTTP (\`curl\`), the MCP
tool \`get_endpoints\` lists the REST routes. No \`koor-cli\` command? The user installs it ${INSTALL_FROM_CLONE}.
${AGENTS_END}
`;
}

export function planAgents(cwd: string, server: string, remove = false): Planned {
  const file = path.join(cwd, 'AGENTS.md');
  const before = readIfExists(file);
  if (remove) {
    if (before === null || !SECTION_RE.test(before)) return { file, text: before, outcome: 'unchanged', mode: 0o644 };
    // The section and the blank line init put before it.
    const text = before.replace(new RegExp(`\\n?${SECTION_RE.source}`), '');
    return text.trim() === '' ? { file, text: null, outcome: 'removed', mode: 0o644 } : { file, text, outcome: 'updated', mode: 0o644 };
  }
  const section = agentsSection(server);
  let text: string;
  if (before === null || before.trim() === '') text = section;
  else if (SECTION_RE.test(before)) text = before.replace(SECTION_RE, section);
  else text = before.replace(/\n*$/, '\n\n') + section;
  return { file, text, outcome: before === null ? 'created' : before === text ? 'unchanged' : 'updated', mode: 0o644 };
}

// --- The git pre-commit hook ---------------------------------------------------------------------

/** Marks the pre-commit hook `init --hooks` wrote (and may rewrite). */
const HOOK_MARK = '# koor: lease guard, installed by `koor-cli init --hooks` (rerunning it rewrites this file)';

const shQuote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * The git pre-commit hook running `koor-cli lease guard` with this very node and CLI (no PATH
 * lookup at commit time). Refuses to replace a hook it did not write.
 */
export function planHook(cwd: string, remove = false): Planned {
  let hooks: string;
  try {
    hooks = execFileSync('git', ['rev-parse', '--git-path', 'hooks'], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch {
    throw new CliError('--hooks: not inside a git repository (run git init first)');
  }
  const file = path.resolve(cwd, hooks, 'pre-commit');
  const before = readIfExists(file);
  if (remove) return before !== null && before.includes(HOOK_MARK) ? { file, text: null, outcome: 'removed', mode: 0o755 } : { file, text: before, outcome: 'unchanged', mode: 0o755 };
  if (before !== null && !before.includes(HOOK_MARK)) {
    throw new CliError(`${path.relative(cwd, file)} exists and is not Koor's; add this line to it instead: koor-cli lease guard`);
  }
  const cli = fs.realpathSync(process.argv[1]!);
  const text = `#!/bin/sh
${HOOK_MARK}
# Refuses the commit when a staged file is leased exclusively by another agent. Set KOOR_INSTANCE to
# your instance id so that your own leases do not count. The server comes from the CLI config.
exec ${shQuote(process.execPath)} ${shQuote(cli)} lease guard
`;
  return { file, text, outcome: before === null ? 'created' : before === text ? 'unchanged' : 'updated', mode: 0o755, executable: true };
}
