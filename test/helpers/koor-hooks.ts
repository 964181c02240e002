import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { CLI_JS } from '../cli/helpers.js';

/**
 * Koor's hooks of a client in a repository, installed as a user does: `koor-cli init --<client>
 * --server <url> [args]` run in it (the built CLI, with `env` over this process's). Returns what
 * the client's environment needs to run the command hooks: `koor-cli` first on PATH (a shim to the
 * built CLI in `bin`); and what init printed.
 */
export function installHooks(root: string, url: string, bin: string, client: 'claude-code' | 'codex' = 'claude-code', o: { args?: string[]; env?: NodeJS.ProcessEnv } = {}): { PATH: string; stdout: string } {
  const stdout = execFileSync(process.execPath, [CLI_JS, 'init', `--${client}`, '--server', url, ...(o.args ?? [])], { cwd: root, stdio: 'pipe', timeout: 30_000, encoding: 'utf8', env: { ...process.env, ...o.env } });
  const shim = path.join(bin, 'koor-cli');
  if (!fs.existsSync(shim)) fs.writeFileSync(shim, `#!/bin/sh\nexec '${process.execPath}' '${CLI_JS}' "$@"\n`, { mode: 0o755 });
  return { PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`, stdout };
}
