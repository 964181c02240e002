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
  return { PATH: koorBin(bin), stdout };
}

/** The built koor-hook (cli/koor-hook.sh), beside the built CLI. */
export const KOOR_HOOK = path.join(path.dirname(CLI_JS), 'koor-hook');

/**
 * `koor-cli` and `koor-hook` in `bin`, as an installed package puts them on a user's PATH: a shim
 * to the built CLI (its resident hook helper leaves 2 minutes after its last call, not 30) and a
 * link to the built koor-hook (whose helper file is then named after `bin`: one helper per test's
 * bin). `cli`: the shim's text instead (the helper's idle time is its caller's to set). Returns
 * the PATH with `bin` first.
 */
export function koorBin(bin: string, cli?: string): string {
  const shim = path.join(bin, 'koor-cli');
  if (!fs.existsSync(shim)) fs.writeFileSync(shim, cli ?? `#!/bin/sh\nKOOR_HOOK_IDLE_S=\${KOOR_HOOK_IDLE_S:-120} exec '${process.execPath}' '${CLI_JS}' "$@"\n`, { mode: 0o755 });
  const hook = path.join(bin, 'koor-hook');
  if (!fs.existsSync(hook)) fs.symlinkSync(KOOR_HOOK, hook);
  return `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`;
}
