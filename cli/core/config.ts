/** Config: ./settings.json and the environment (SPEC §4.1). */
import fs from 'node:fs';
import path from 'node:path';
import { CliError, type CliConfig } from './command.js';

/** SPEC §4.1: `./settings.json` in the current directory, shared with the server's keys. */
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

/** Per key: env (non-empty) > file (non-empty) > default. */
export function loadConfig(cwd: string, env: NodeJS.ProcessEnv): CliConfig {
  const file = readSettings(`${cwd}/${SETTINGS_FILE}`) ?? {};
  const server = nonEmptyString(env.KOOR_SERVER) ?? nonEmptyString(file.server) ?? DEFAULT_SERVER;
  const token = nonEmptyString(env.KOOR_TOKEN) ?? nonEmptyString(file.token) ?? '';
  let timeoutMs = DEFAULT_RESPONSE_TIMEOUT_MS;
  const t = nonEmptyString(env.KOOR_TIMEOUT);
  if (t !== undefined) {
    const s = Number(t);
    // Node timers hold at most 2^31-1 ms (~24.8 days); beyond, they fire at once.
    if (!/^\d+(\.\d+)?$/.test(t) || !(s > 0) || s * 1000 > 2_147_483_647) throw new CliError(`invalid KOOR_TIMEOUT "${t}": expected seconds, e.g. 30 (at most 2147483)`);
    timeoutMs = s * 1000;
  }
  // Relative to the directory of settings.json (the current one), like the file itself.
  const caFile = nonEmptyString(env.KOOR_CA_FILE) ?? nonEmptyString(file.ca_file) ?? '';
  return { server: server.replace(/\/+$/, ''), token, timeoutMs, caFile: caFile === '' ? '' : path.resolve(cwd, caFile), instance: nonEmptyString(env.KOOR_INSTANCE) ?? '' };
}

/**
 * Sets keys in ./settings.json, keeping every other key (the server's too): 2-space JSON, mode 0600,
 * written to a temp file and renamed so a crash never leaves half a file. A file that exists but is
 * not a JSON object is refused rather than overwritten (it may be a hand-edited server config).
 */
export function updateSettings(cwd: string, values: Partial<Record<ConfigKey, string>>): void {
  const file = `${cwd}/${SETTINGS_FILE}`;
  let current: Record<string, unknown> = {};
  let text: string | null = null;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new CliError(`cannot read ${SETTINGS_FILE}: ${(e as Error).message}`);
  }
  if (text !== null && text.trim() !== '') {
    const parsed = readSettings(file);
    if (parsed === null) throw new CliError(`${SETTINGS_FILE} is not a JSON object; fix or remove it first`);
    current = parsed;
  }
  const next = { ...current, ...values };
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    fs.writeFileSync(tmp, JSON.stringify(next, null, 2) + '\n', { mode: 0o600 });
    fs.chmodSync(tmp, 0o600);
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw new CliError(`cannot write ${SETTINGS_FILE}: ${(e as Error).message}`);
  }
}
