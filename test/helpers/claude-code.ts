/**
 * The real Claude Code client, driven offline, for the tests: the pinned release installed by the
 * test setup (`npm run test:setup`, into gitignored test-output/claude-code/<version>/, never a
 * dependency of the package), a scripted fake of the Anthropic Messages API on 127.0.0.1 that
 * records what the model was sent, and runClaude() to run one print-mode session against it. The
 * client's location, the fake and runClaude live in bench/clients/claude-code.ts (the swarm benchmark
 * drives the same client); this adds the setup's notes (why the client is missing, so the tests
 * skip with the reason) and tap teardown. What the client does with hooks is written down, with
 * how it was verified, in CLAUDE-CODE-FACTS.md beside this file.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { note, provided, type Needed } from './apt.js';
import { claudeBinary, installClaudeCodeBinary, startFakeApi as startApi, type FakeApi, type Script } from '../../bench/clients/claude-code.js';

export {
  CLAUDE_CODE_DIR,
  CLAUDE_CODE_PACKAGE,
  CLAUDE_CODE_VERSION,
  DONE_ANSWER,
  PLAIN_ANSWER,
  claudeBinary,
  requestText,
  requestTexts,
  runClaude,
  toolResults,
  type ApiRequest,
  type Block,
  type FakeApi,
  type Reply,
  type RunOptions,
  type RunResult,
  type Script,
} from '../../bench/clients/claude-code.js';

/** For test/helpers/apt.ts's note and provided(): "claude-code" is the note's name. */
export const CLAUDE_CODE: Needed = { pkg: 'claude-code', find: claudeBinary };

/** The executable, or why the tests that drive the client skip (never a silent pass). */
export function claudeCode(): { path: string } | { skip: string } {
  const found = provided(CLAUDE_CODE);
  if ('path' in found) return found;
  return { skip: `no Claude Code client: ${found.skip.replace(/\("npm run test:setup" installs it with apt-get as root\)/, '("npm run test:setup" installs it with npm)')}` };
}

/**
 * Run once before the test files (`npm run test:setup`, test/setup/install.ts): installs the pinned
 * client unless a working copy is there, within `budgetMs` (bench/clients/claude-code.ts
 * installClaudeCodeBinary). What could not be had is written down (test/helpers/apt.ts) and the
 * tests that need it skip with the reason. Returns the reason, or null when the client is there.
 * Never throws.
 */
export async function installClaudeCode(budgetMs: number): Promise<string | null> {
  const why = await installClaudeCodeBinary(budgetMs);
  note(CLAUDE_CODE.pkg, why);
  return why;
}

/** The fake Messages API (bench/clients/claude-code.ts), closed at teardown. */
export async function startFakeApi(t: { teardown(fn: () => unknown): void }, script: Script = []): Promise<FakeApi> {
  const api = await startApi(script);
  t.teardown(() => api.close());
  return api;
}

/** A fresh temp directory for one run (a project, a HOME), removed at teardown. */
export function claudeTempDir(t: { teardown(fn: () => unknown): void }, prefix = 'koor-cc-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

