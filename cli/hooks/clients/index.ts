/**
 * Every coding-agent client Koor has an adapter for: `koor-cli hook <name>` bridges its hooks and
 * `koor-cli init --<name>` installs them. A new client is one file in this directory and one line here.
 */
import type { ClientAdapter } from './adapter.js';
import { claudeCode } from './claude-code.js';
import { codex } from './codex.js';
import { copilot } from './copilot.js';
import { cursor } from './cursor.js';
import { gemini } from './gemini.js';
import { kilo } from './kilo.js';
import { opencode } from './opencode.js';

export const ADAPTERS: readonly ClientAdapter[] = [claudeCode, cursor, codex, gemini, copilot, opencode, kilo];

/** The clients' names, in the order init lists them. */
export const CLIENTS: readonly string[] = ADAPTERS.map((a) => a.name);

export function adapterOf(name: string): ClientAdapter | undefined {
  return ADAPTERS.find((a) => a.name === name);
}
