import fs from 'node:fs';
import path from 'node:path';
import { CliError, type ConfigKey, defineCommand, updateSettings, writeErr, writeOut } from '../core.js';

/**
 * Wires the current workspace to Koor: the MCP client config of Claude Code (.mcp.json) and Cursor
 * (.cursor/mcp.json), merged so other servers stay; an AGENTS.md section between markers, replaced
 * on rerun. Everything is validated before anything is written; a rerun changes nothing.
 */

export const AGENTS_BEGIN = '<!-- koor:begin — managed by `koor-cli init`; rerunning it replaces this section -->';
export const AGENTS_END = '<!-- koor:end -->';
const SECTION_RE = /<!-- koor:begin[^\n]*-->[\s\S]*?<!-- koor:end -->\n?/;
const MCP_FILES = ['.mcp.json', path.join('.cursor', 'mcp.json')];

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

Add \`--pretty\` to indent JSON; \`koor-cli <command> --help\` explains any command. For raw HTTP (\`curl\`), the MCP
tool \`get_endpoints\` lists the REST routes.
${AGENTS_END}
`;
}

type Outcome = 'created' | 'updated' | 'unchanged';

interface Planned {
  file: string;
  text: string;
  outcome: Outcome;
  mode: number;
}

function readIfExists(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new CliError(`cannot read ${file}: ${(e as Error).message}`);
  }
}

function planMcp(cwd: string, rel: string, entry: Record<string, unknown>, secret: boolean): Planned {
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
  const text = JSON.stringify({ ...doc, mcpServers: { ...(servers as Record<string, unknown>), koor: entry } }, null, 2) + '\n';
  return { file, text, outcome: before === null ? 'created' : before === text ? 'unchanged' : 'updated', mode: secret ? 0o600 : 0o644 };
}

function planAgents(cwd: string, server: string): Planned {
  const file = path.join(cwd, 'AGENTS.md');
  const before = readIfExists(file);
  const section = agentsSection(server);
  let text: string;
  if (before === null || before.trim() === '') text = section;
  else if (SECTION_RE.test(before)) text = before.replace(SECTION_RE, section);
  else text = before.replace(/\n*$/, '\n\n') + section;
  return { file, text, outcome: before === null ? 'created' : before === text ? 'unchanged' : 'updated', mode: 0o644 };
}

export default defineCommand({
  description: 'Configure this workspace for Koor: MCP client config for Claude Code and Cursor, and AGENTS.md',
  details:
    'Writes the `koor` entry into `.mcp.json` and `.cursor/mcp.json` (other MCP servers are kept) and a marked section into `AGENTS.md` ' +
    'that tells agents to register over MCP and use koor-cli for data. Rerunning replaces only what it wrote. ' +
    'The server and token default to the CLI config; `--server`/`--token` given here are also saved to ./settings.json.',
  examples: [
    ['Local server, no auth', '$0 init'],
    ['Shared server with a token', '$0 init --server http://10.0.0.5:9800 --token s3cret'],
  ],
  positionals: [],
  options: {
    server: { description: 'Server URL (default: the CLI config)' },
    token: { description: 'Bearer token (default: the CLI config)' },
  },
  async run({ opt, ctx }) {
    const server = (opt.server ?? ctx.config.server).replace(/\/+$/, '');
    const token = opt.token ?? ctx.config.token;
    try {
      new URL(server);
    } catch {
      throw new CliError(`invalid server URL: ${server}`);
    }
    const entry: Record<string, unknown> = { type: 'http', url: `${server}/mcp` };
    if (token !== '') entry.headers = { Authorization: `Bearer ${token}` };

    const plans = [...MCP_FILES.map((rel) => planMcp(ctx.cwd, rel, entry, token !== '')), planAgents(ctx.cwd, server)];
    for (const p of plans) {
      if (p.outcome === 'unchanged') continue;
      try {
        fs.mkdirSync(path.dirname(p.file), { recursive: true });
        fs.writeFileSync(p.file, p.text, { mode: p.mode });
      } catch (e) {
        throw new CliError(`cannot write ${path.relative(ctx.cwd, p.file)}: ${(e as Error).message}`);
      }
    }
    const saved: Partial<Record<ConfigKey, string>> = {};
    if (opt.server !== undefined) saved.server = server;
    if (opt.token !== undefined) saved.token = token;
    if (Object.keys(saved).length > 0) updateSettings(ctx.cwd, saved);

    for (const p of plans) writeOut(`${p.outcome} ${path.relative(ctx.cwd, p.file)}\n`);
    if (Object.keys(saved).length > 0) writeOut(`saved ${Object.keys(saved).join(' and ')} to settings.json\n`);
    if (token !== '') writeErr('note: the MCP config files contain the token; keep them out of version control');
    return 0;
  },
});
