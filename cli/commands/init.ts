/**
 * Wires the current workspace to Koor: the MCP client config of Claude Code (.mcp.json) and Cursor
 * (.cursor/mcp.json), merged so other servers stay; an AGENTS.md section between markers, replaced
 * on rerun (those files are planned in ../hooks/workspace-files.ts, each client's hooks in
 * ../hooks/clients/). Everything is validated before anything is written; a rerun changes nothing.
 */
import fs from 'node:fs';
import path from 'node:path';
import { CliError, type CliConfig, type ConfigKey, defineCommand, describeError, request, saveToken, SETTINGS_FILE, updateSettings, writeErr, writeOut } from '../core.js';
import { codexOnPath, codexOtlpEndpoint, codexTelemetry, trustInCodex } from '../hooks/codex-config.js';
import { ADAPTERS, adapterOf, CLIENTS } from '../hooks/clients/index.js';
import { repoRoot, telemetryFile, userSettingsDir } from '../hooks/install.js';
import { INSTALL_HOW, MCP_FILES, mcpEntry, planAgents, planHook, planMcp, readIfExists, type Planned } from '../hooks/workspace-files.js';
import { repoProject } from '../project.js';

/**
 * A directory npm put at the front of PATH for the run it started (`npx`, `npm exec`, `npm run`):
 * a `node_modules/.bin` — npx's cache for `npx koor-cli`, the project's own for a local install.
 * The agent's shell, where the hooks and AGENTS.md run `koor-cli`, does not have it.
 */
function npmRunBin(dir: string, env: NodeJS.ProcessEnv): boolean {
  if (!env.npm_command && !env.npm_lifecycle_event) return false;
  const parts = path.resolve(dir).split(path.sep);
  return parts.at(-1) === '.bin' && parts.at(-2) === 'node_modules';
}

/**
 * Where a bare `koor-cli` is found, as the hooks and the agents run it (by the client's shell):
 * `path` on the PATH they inherit, `npm-run` only in a directory npm added for this run (so not
 * in theirs), `missing` nowhere.
 */
function cliOnPath(name: string, env: NodeJS.ProcessEnv): 'path' | 'npm-run' | 'missing' {
  const exts = process.platform === 'win32' ? (env.PATHEXT ?? '.EXE;.CMD').split(';') : [''];
  let found: 'npm-run' | 'missing' = 'missing';
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (dir === '') continue;
    for (const ext of exts) {
      try {
        fs.accessSync(path.join(dir, name + ext), fs.constants.X_OK);
        if (!npmRunBin(dir, env)) return 'path';
        found = 'npm-run';
      } catch {
        // not here
      }
    }
  }
  return found;
}

/** How long init waits for the server's GET /health before it says the server does not answer, ms. */
const HEALTH_TIMEOUT_MS = 1_500;

/** null when the server answers GET /health with a 2xx; else why not. */
async function serverProblem(config: CliConfig): Promise<string | null> {
  try {
    const r = await request({ ...config, timeoutMs: HEALTH_TIMEOUT_MS }, 'GET', '/health');
    return r.status >= 200 && r.status < 300 ? null : `GET /health answered HTTP ${r.status}`;
  } catch (e) {
    return (e instanceof CliError ? e.message : describeError(e)).replace(/^request failed: /, '');
  }
}

/** Directories a client's file goes in, removed with it when left empty (never one a user's other files share). */
const OWN_DIRS = ['.claude', '.cursor', '.codex', '.gemini', '.github', path.join('.github', 'hooks'), '.opencode', path.join('.opencode', 'plugins'), '.kilo', path.join('.kilo', 'plugins')];

/** The clients whose OpenTelemetry export `--telemetry` sends to Koor. */
const TELEMETRY_CLIENTS = ['claude-code', 'codex', ...ADAPTERS.filter((a) => a.telemetryNote !== undefined).map((a) => a.name)];
/** `--<client>` for every client adapter, a boolean each. */
const CLIENT_OPTIONS: Record<string, { description: string; boolean: true }> = Object.fromEntries(ADAPTERS.map((a) => [a.name, { description: a.initHelp, boolean: true as const }]));

export default defineCommand({
  description: 'Configure this workspace for Koor: MCP client config for Claude Code and Cursor, and AGENTS.md',
  details:
    'Writes the `koor` entry into `.mcp.json` and `.cursor/mcp.json` (other MCP servers are kept) and a marked section into `AGENTS.md` ' +
    'that tells agents to register over MCP and use koor-cli for data. Rerunning replaces only what it wrote. ' +
    'The server and token default to the CLI config; `--server` given here is also saved to ./settings.json, `--token` to your user config ' +
    '(~/.config/koor/config.json): no file init writes holds the token, they name $KOOR_TOKEN. ' +
    "It warns when the server does not answer, and when `koor-cli` is not on the PATH of the agents' shells (the hooks and AGENTS.md run it; " +
    `after \`npx koor-cli init\` it is on npx's PATH only): install it ${INSTALL_HOW}. ` +
    'With --hooks, also installs a git pre-commit hook that runs `koor-cli lease guard` (commits touching files another agent leased are refused). ' +
    'With --claude-code, --cursor or --codex, also installs that client\'s hooks in the repository root (edits of files leased by others denied ' +
    'before they happen, news put into the model\'s context, an idle Claude Code session woken). --remove takes Koor\'s entries out again and leaves the rest of each file as it was. ' +
    'An https:// server goes into every file as given; --ca-file (saved as ca_file) makes koor-cli trust a self-signed one. ' +
    "Last, it prints the project this repository is to Koor, and why: its origin remote (host, user and .git left out, so every clone " +
    "agrees), else its folder's name; KOOR_PROJECT overrides it. The Claude Code hooks carry it as X-Koor-Repository.",
  examples: [
    ['Local server, no auth', '$0 init'],
    ['Shared server with a token', '$0 init --server http://10.0.0.5:9800 --token s3cret'],
    ['A server with a self-signed certificate', '$0 init --server https://10.0.0.5:9800 --ca-file koor-ca.pem'],
    ['Also guard commits against leased files', '$0 init --hooks'],
    ['Claude Code hooks (export KOOR_TOKEN first when the server has auth)', '$0 init --claude-code'],
    ['Also record the LLM cost of every Claude Code request (OpenTelemetry, in ~/.claude/settings.json)', '$0 init --claude-code --telemetry'],
    ['Codex hooks, the project and the hooks trusted in Codex (needs `codex` on PATH)', '$0 init --codex --trust'],
    ['Also record the tokens of every Codex request (OpenTelemetry, in ~/.codex/config.toml)', '$0 init --codex --trust --telemetry'],
    ['Also record the tokens of every Gemini CLI request (OpenTelemetry, in .gemini/settings.json)', '$0 init --gemini --telemetry'],
    ['Also record the tokens of every OpenCode request (OpenTelemetry, in opencode.json)', '$0 init --opencode --telemetry'],
    ['Take the Claude Code hooks out again', '$0 init --remove --claude-code'],
  ],
  positionals: [],
  options: {
    server: { description: 'Server URL (default: the CLI config)' },
    token: { description: 'Bearer token (default: the CLI config); saved to your user config, never to a file of the repository' },
    'ca-file': { description: "PEM file of an https:// server's CA or self-signed certificate, for koor-cli (saved to ./settings.json)" },
    hooks: { description: 'Install the git pre-commit hook `koor-cli lease guard`', boolean: true },
    // One flag per client adapter (cli/hooks/clients/): --claude-code, --cursor, --codex, …
    ...CLIENT_OPTIONS,
    trust: { description: "With --codex: trust the project and Koor's hooks in Codex (its ~/.codex/config.toml, through `codex app-server`), as accepting them in codex would; needed before `codex exec` runs them", boolean: true },
    telemetry: {
      description:
        "With --claude-code: Claude Code's OpenTelemetry export of each request's tokens and cost to Koor, set in the user settings (~/.claude/settings.json: Claude Code reads telemetry settings only there). " +
        "With --codex: Codex's export of each request's tokens, set in ~/.codex/config.toml through `codex app-server` (with the token: Codex sends header values as written). " +
        "With --gemini: Gemini CLI's export, set in .gemini/settings.json (`telemetry`; with auth, the header comes from OTEL_EXPORTER_OTLP_HEADERS). " +
        'With --copilot: says the two variables Copilot CLI reads its export from (it has no setting in a file). ' +
        'With --opencode: `experimental.openTelemetry` in opencode.json, and the variables OpenCode reads its exporter from',
      boolean: true,
    },
    remove: { description: "Take Koor's entries out again (of the named clients' hooks; with none named, of everything init writes)", boolean: true },
  },
  async run({ opt, ctx }) {
    const server = (opt.server ?? ctx.config.server).replace(/\/+$/, '');
    const token = opt.token ?? ctx.config.token;
    let scheme: string;
    try {
      scheme = new URL(server).protocol;
    } catch {
      throw new CliError(`invalid server URL: ${server}`);
    }
    if (scheme !== 'http:' && scheme !== 'https:') throw new CliError(`invalid server URL: ${server} (http or https only)`);
    const caFile = opt['ca-file'] !== undefined ? path.resolve(ctx.cwd, opt['ca-file']) : ctx.config.caFile;
    if (opt['ca-file'] !== undefined && !fs.existsSync(caFile)) throw new CliError(`--ca-file ${opt['ca-file']}: no such file`);
    const clients = CLIENTS.filter((c) => (opt as Record<string, unknown>)[c] === true);
    // Asked now, answered while the files are planned and written.
    const health = opt.remove ? Promise.resolve(null) : serverProblem({ ...ctx.config, server, token, caFile });
    const root = clients.length > 0 || opt.remove ? repoRoot(ctx.cwd) : ctx.cwd;
    // The repository's own project goes into the committed hooks (every clone shares it); a
    // KOOR_PROJECT of whoever runs init is theirs, not the repository's: it is only said.
    const repository = repoProject(root, {});
    const chosen = repoProject(root, process.env);
    const read = (file: string) => readIfExists(file);
    const plans: Planned[] = [];
    /** --codex with --trust or --telemetry (or --remove): the `codex` whose config is changed, found before anything is written. */
    let codexBin: string | null = null;
    if (opt.remove) {
      // --remove: Koor's entries of the named clients out; with none named, everything init writes.
      const which: readonly string[] = clients.length > 0 ? clients : CLIENTS;
      if (clients.length === 0) {
        plans.push(...MCP_FILES.map((rel) => planMcp(ctx.cwd, rel, null)), planAgents(ctx.cwd, server, true));
        try {
          plans.push(planHook(ctx.cwd, true));
        } catch {
          // not a git repository: no pre-commit hook to remove
        }
      }
      // With --telemetry too: OpenCode's export switch out of opencode.json (it names no server, so it may be the user's own).
      for (const c of which) plans.push(...adapterOf(c)!.files(root, ctx.cwd, { server, install: false, read, telemetry: opt.telemetry === true }));
      // Koor's telemetry settings out of the user's Claude Code settings, if they are there.
      if (which.includes('claude-code')) {
        const tp = telemetryFile(userSettingsDir(process.env), ctx.cwd, server, false);
        if (tp.outcome !== 'unchanged') plans.push(tp);
      }
      // And out of Codex's config (through codex itself), when codex is there to ask.
      if (which.includes('codex')) {
        try {
          codexBin = codexOnPath(process.env, '--remove');
        } catch {
          codexBin = null;
        }
      }
    } else {
      plans.push(...MCP_FILES.map((rel) => planMcp(ctx.cwd, rel, mcpEntry(server, token, rel))));
      // With client hooks, no AGENTS.md section: the client reads it into every request (~600
      // tokens), while the hooks tell the model what concerns it, with the command to run, when it does.
      if (clients.length === 0) plans.push(planAgents(ctx.cwd, server));
      if (opt.hooks) plans.push(planHook(ctx.cwd));
      for (const c of clients) plans.push(...adapterOf(c)!.files(root, ctx.cwd, { server, repository: repository.project, install: true, read, telemetry: opt.telemetry === true }));
      if (opt.trust && !clients.includes('codex')) throw new CliError('--trust goes with --codex');
      if (opt.telemetry && !clients.some((c) => c === 'claude-code' || c === 'codex' || adapterOf(c)!.telemetryNote !== undefined)) throw new CliError(`--telemetry goes with ${TELEMETRY_CLIENTS.map((c) => `--${c}`).join(', ')}`);
      if (clients.includes('codex') && (opt.trust || opt.telemetry)) codexBin = codexOnPath(process.env, opt.trust ? '--trust' : '--telemetry');
      if (opt.telemetry && clients.includes('claude-code')) plans.push(telemetryFile(userSettingsDir(process.env), ctx.cwd, server, true));
    }
    for (const p of plans) {
      if (p.outcome === 'unchanged') continue;
      try {
        if (p.text === null) {
          fs.rmSync(p.file, { force: true });
          // A directory Koor's file was alone in (.claude/, .codex/, .github/hooks/, .opencode/plugins/ …) goes with it.
          for (let d = path.dirname(p.file); OWN_DIRS.some((own) => d.endsWith(path.sep + own)); d = path.dirname(d)) fs.rmdirSync(d);
          continue;
        }
        fs.mkdirSync(path.dirname(p.file), { recursive: true });
        fs.writeFileSync(p.file, p.text, { mode: p.mode });
        if (p.executable) fs.chmodSync(p.file, p.mode); // an existing file would keep its old mode
      } catch (e) {
        if (p.text === null && ['ENOTEMPTY', 'EEXIST', 'ENOENT'].includes((e as NodeJS.ErrnoException).code ?? '')) continue;
        throw new CliError(`cannot write ${path.relative(ctx.cwd, p.file)}: ${(e as Error).message}`);
      }
    }
    // The server and CA file go to ./settings.json; the token to the user's own config, never the repository.
    const saved: Partial<Record<ConfigKey, string>> = {};
    if (opt.server !== undefined) saved.server = server;
    if (opt['ca-file'] !== undefined) saved.ca_file = caFile;
    if (!opt.remove && Object.keys(saved).length > 0) updateSettings(ctx.cwd, saved);
    const tokenSaved = !opt.remove && opt.token !== undefined ? saveToken(ctx.cwd, process.env, token) : null;

    for (const p of plans) if (!(opt.remove && p.outcome === 'unchanged' && p.text === null)) writeOut(`${p.outcome} ${path.relative(ctx.cwd, p.file)}\n`);
    if (!opt.remove && Object.keys(saved).length > 0) writeOut(`saved ${Object.keys(saved).join(' and ')} to ${SETTINGS_FILE}\n`);
    if (tokenSaved !== null) writeOut(`saved token to ${tokenSaved.file}${tokenSaved.movedFromSettings ? ` (and removed it from ${SETTINGS_FILE})` : ''}\n`);
    if (!opt.remove) {
      const own = chosen.project === repository.project ? '' : `; the repository's own: ${repository.project}, ${repository.why}`;
      writeOut(`project: ${chosen.project} (${chosen.why}${own})\n`);
    }
    if (!opt.remove) for (const c of clients) if (c !== 'codex' && adapterOf(c)!.installNote !== undefined) writeErr(`note: ${adapterOf(c)!.installNote}`);
    if (!opt.remove && opt.telemetry) {
      for (const c of clients) {
        const note = adapterOf(c)!.telemetryNote?.(server, token !== '');
        if (note !== undefined && note !== null) writeErr(`note: ${note}`);
      }
    }
    if (!opt.remove && clients.includes('codex')) {
      if (codexBin !== null && opt.trust) {
        const r = await trustInCodex(codexBin, root, process.env);
        writeOut(`trusted ${path.relative(ctx.cwd, root) || '.'} and ${r.trusted} Koor hooks in Codex (${r.configFile})\n`);
      } else {
        writeErr('note: Codex runs .codex/hooks.json only in a trusted project, once you have reviewed the hooks: start codex here, trust the folder and approve them in /hooks, or rerun with --trust');
      }
      if (codexBin !== null && opt.telemetry) {
        const file = await codexTelemetry(codexBin, process.env, server, token, true);
        writeOut(`updated ${file} (Codex telemetry to ${codexOtlpEndpoint(server)})\n`);
        if (token !== '') writeErr(`note: Codex sends telemetry headers as written, so the token is in ${file} (readable by you only)`);
      }
    }
    if (opt.remove && codexBin !== null) {
      try {
        const file = await codexTelemetry(codexBin, process.env, server, '', false);
        if (file !== null) writeOut(`removed Codex telemetry from ${file}\n`);
      } catch (e) {
        writeErr(`note: Codex's telemetry settings not checked: ${(e as Error).message}`);
      }
    }
    // The IDE's own MCP client and HTTP hooks do not read settings.json; Node-based ones (Claude Code) honour this.
    if (!opt.remove && scheme === 'https:' && caFile !== '') writeErr(`note: the agent's MCP client and HTTP hooks must trust ${caFile} too: start the agent with NODE_EXTRA_CA_CERTS=${caFile}`);
    if (!opt.remove && token !== '') writeErr(`note: the ${clients.length === 0 ? 'MCP configs' : 'hooks and MCP configs'} read the token from the environment: export KOOR_TOKEN=<token> in the shell that starts the agent`);
    // The hooks (and Claude Code's telemetry headers helper) run a bare `koor-cli`: without it on
    // PATH they fail open, silently, and Koor hears nothing from the session; AGENTS.md tells the
    // agents to run it. Run through npx, koor-cli is on PATH for this run only.
    if (!opt.remove) {
      const where = cliOnPath('koor-cli', process.env);
      if (where !== 'path') {
        const runs = clients.length > 0 ? 'the hooks run `koor-hook …` and `koor-cli hook …`: without them they do nothing' : 'AGENTS.md tells the agents to run it';
        const state = where === 'npm-run' ? 'is on PATH only for this npx/npm run' : 'is not on PATH';
        writeErr(`warning: \`koor-cli\` ${state}, and ${runs}. Install it: ${INSTALL_HOW}`);
      }
    }
    const problem = await health;
    if (problem !== null) writeErr(`warning: the server at ${server} does not answer (${problem}): start it (koor-server) before the agents, or give --server`);
    return 0;
  },
});
