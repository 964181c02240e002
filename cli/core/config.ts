/**
 * Config: the environment, ./settings.json (non-secret, per workspace) and the user's own config
 * file (the token: never in a file of the repository), in that order.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CliError, type CliConfig } from './command.js';

/** `./settings.json` in the current directory, shared with the server's keys: server URL, CA file. */
export const SETTINGS_FILE = 'settings.json';
export const DEFAULT_SERVER = 'http://localhost:9800';
export const CONFIG_KEYS = ['server', 'token', 'ca_file'] as const;
/** A server that accepts no connection within this is reported, ms. */
export const CONNECT_TIMEOUT_MS = 5_000;
/** A reply that has not fully arrived this long after the request is reported (KOOR_TIMEOUT), ms. */
export const DEFAULT_RESPONSE_TIMEOUT_MS = 30_000;
export type ConfigKey = (typeof CONFIG_KEYS)[number];


function nonEmptyString(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/**
 * The user's own config file, outside every repository: $XDG_CONFIG_HOME/koor/config.json, else
 * ~/.config/koor/config.json (%APPDATA%\koor\config.json on Windows). `config set token` and
 * `init --token` write the token there, mode 0600.
 */
export function userConfigFile(env: NodeJS.ProcessEnv): string {
  const xdg = nonEmptyString(env.XDG_CONFIG_HOME);
  if (xdg !== undefined && path.isAbsolute(xdg)) return path.join(xdg, 'koor', 'config.json');
  if (process.platform === 'win32' && nonEmptyString(env.APPDATA) !== undefined) return path.join(env.APPDATA!, 'koor', 'config.json');
  return path.join(nonEmptyString(env.HOME) ?? os.homedir(), '.config', 'koor', 'config.json');
}

/** The parsed settings file, or null when absent or not a JSON object ("bad file = absent"). */
function readSettings(file: string): Record<string, unknown> | null {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
  try {
    const v: unknown = JSON.parse(text);
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/**
 * Per key: env (non-empty) > ./settings.json (non-empty) > the user config > default. (A command's
 * own flag, such as `init --server`, beats all of them.) A token read from ./settings.json still
 * works, with a warning (`tokenWarning`, printed once a run when the token is sent): that file
 * sits in the repository, where `git add` takes it.
 */
export function loadConfig(cwd: string, env: NodeJS.ProcessEnv): CliConfig {
  const file = readSettings(`${cwd}/${SETTINGS_FILE}`) ?? {};
  const userFile = userConfigFile(env);
  const user = readSettings(userFile) ?? {};
  const server = nonEmptyString(env.KOOR_SERVER) ?? nonEmptyString(file.server) ?? nonEmptyString(user.server) ?? DEFAULT_SERVER;
  const envToken = nonEmptyString(env.KOOR_TOKEN);
  const repoToken = nonEmptyString(file.token);
  const token = envToken ?? repoToken ?? nonEmptyString(user.token) ?? '';
  const tokenWarning =
    envToken === undefined && repoToken !== undefined
      ? `warning: the token is in ./${SETTINGS_FILE}, a file \`git add\` would take: move it with \`koor-cli config set token <token>\` (saved in ${userFile}) or use KOOR_TOKEN`
      : undefined;
  let timeoutMs = DEFAULT_RESPONSE_TIMEOUT_MS;
  const t = nonEmptyString(env.KOOR_TIMEOUT);
  if (t !== undefined) {
    const s = Number(t);
    // Node timers hold at most 2^31-1 ms (~24.8 days); beyond, they fire at once.
    if (!/^\d+(\.\d+)?$/.test(t) || !(s > 0) || s * 1000 > 2_147_483_647) throw new CliError(`invalid KOOR_TIMEOUT "${t}": expected seconds, e.g. 30 (at most 2147483)`);
    timeoutMs = s * 1000;
  }
  // Relative to the directory of the file that names it.
  const envCa = nonEmptyString(env.KOOR_CA_FILE);
  const fileCa = nonEmptyString(file.ca_file);
  const userCa = nonEmptyString(user.ca_file);
  const caFile = envCa !== undefined || fileCa !== undefined ? path.resolve(cwd, envCa ?? fileCa!) : userCa !== undefined ? path.resolve(path.dirname(userFile), userCa) : '';
  return { server: server.replace(/\/+$/, ''), token, timeoutMs, caFile, instance: nonEmptyString(env.KOOR_INSTANCE) ?? '', ...(tokenWarning === undefined ? {} : { tokenWarning }) };
}

/**
 * Sets (a value) or deletes (undefined) keys of a JSON object file, keeping every other key (the
 * server's too): 2-space JSON, mode 0600, written to a temp file and renamed so a crash never
 * leaves half a file. A file that exists but is not a JSON object is refused rather than
 * overwritten (it may be a hand-edited server config). `shown`: the file as messages name it.
 */
function updateJsonFile(file: string, shown: string, values: Partial<Record<ConfigKey, string | undefined>>): void {
  let current: Record<string, unknown> = {};
  let text: string | null = null;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new CliError(`cannot read ${shown}: ${(e as Error).message}`);
  }
  if (text !== null && text.trim() !== '') {
    const parsed = readSettings(file);
    if (parsed === null) throw new CliError(`${shown} is not a JSON object; fix or remove it first`);
    current = parsed;
  }
  const next: Record<string, unknown> = { ...current };
  for (const [k, v] of Object.entries(values)) {
    if (v === undefined) delete next[k];
    else next[k] = v;
  }
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    fs.writeFileSync(tmp, JSON.stringify(next, null, 2) + '\n', { mode: 0o600 });
    fs.chmodSync(tmp, 0o600);
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw new CliError(`cannot write ${shown}: ${(e as Error).message}`);
  }
}

/** Sets keys in ./settings.json (the non-secret ones: server, ca_file). */
export function updateSettings(cwd: string, values: Partial<Record<ConfigKey, string | undefined>>): void {
  updateJsonFile(`${cwd}/${SETTINGS_FILE}`, SETTINGS_FILE, values);
}

/** Sets keys in the user config (userConfigFile); returns its path. */
export function updateUserConfig(env: NodeJS.ProcessEnv, values: Partial<Record<ConfigKey, string>>): string {
  const file = userConfigFile(env);
  updateJsonFile(file, file, values);
  return file;
}

/**
 * Saves the token in the user config and takes it out of ./settings.json (where an older koor-cli
 * put it), so the one kept is the one in effect. Returns the user config's path and whether
 * ./settings.json had a token.
 */
export function saveToken(cwd: string, env: NodeJS.ProcessEnv, token: string): { file: string; movedFromSettings: boolean } {
  const file = updateUserConfig(env, { token });
  const settings = readSettings(`${cwd}/${SETTINGS_FILE}`);
  const movedFromSettings = settings !== null && Object.hasOwn(settings, 'token');
  if (movedFromSettings) updateSettings(cwd, { token: undefined });
  return { file, movedFromSettings };
}
