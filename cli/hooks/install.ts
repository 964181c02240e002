/**
 * What `koor-cli init` needs besides the clients' own files (./clients/): the repository's root,
 * and Claude Code's telemetry settings in the user's settings file.
 */
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import type { FilePlan } from './clients/adapter.js';
import { planJson } from './file-plan.js';
import { objectAt, readJsonFile, withKey } from './files.js';

export function git(cwd: string, args: string[]): string | null {
  try {
    return execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

/** `git rev-parse --show-toplevel`, else the directory itself. */
export function repoRoot(cwd: string): string {
  return git(cwd, ['rev-parse', '--show-toplevel']) || cwd;
}

/**
 * Claude Code's OpenTelemetry export to Koor: its `api_request` events carry each
 * request's model, tokens and cost, which Koor records as LLM usage of the agent the session's
 * hooks bound. Claude Code 2.1 takes the telemetry variables only from the user's settings
 * (~/.claude/settings.json, or $CLAUDE_CONFIG_DIR): those of a project's .claude/settings*.json
 * are ignored (verified: test/helpers/CLAUDE-CODE-FACTS.md). The Authorization header comes from
 * `otelHeadersHelper`, a command Claude Code runs for the headers: `koor-cli otel-headers`, which
 * prints the token of the CLI config ($KOOR_TOKEN) — the file names no token.
 */
const OTEL_HELPER = 'koor-cli otel-headers';
function telemetryEnv(server: string): Record<string, string> {
  return {
    CLAUDE_CODE_ENABLE_TELEMETRY: '1',
    OTEL_LOGS_EXPORTER: 'otlp',
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    OTEL_EXPORTER_OTLP_ENDPOINT: server,
  };
}

/** The user's Claude Code settings file. */
export function userSettingsDir(env: NodeJS.ProcessEnv): string {
  return env.CLAUDE_CONFIG_DIR || path.join(env.HOME || os.homedir(), '.claude');
}

/** ~/.claude/settings.json with the telemetry variables and the headers helper set, or (install false) taken out when Koor's. */
export function telemetryFile(dir: string, cwd: string, server: string, install: boolean): FilePlan {
  const f = readJsonFile(dir, 'settings.json', cwd);
  const env = objectAt(f, f.doc, 'env', 'env') ?? {};
  const ours = f.doc.otelHeadersHelper === OTEL_HELPER;
  if (!install && !ours) return planJson(f, f.before === null ? null : f.doc);
  let nextEnv = env;
  for (const [k, v] of Object.entries(telemetryEnv(server))) nextEnv = withKey(nextEnv, k, install ? v : undefined);
  let doc = withKey(f.doc, 'env', install || Object.keys(nextEnv).length > 0 ? nextEnv : undefined);
  doc = withKey(doc, 'otelHeadersHelper', install ? OTEL_HELPER : undefined);
  return planJson(f, !install && Object.keys(doc).length === 0 ? null : doc);
}
