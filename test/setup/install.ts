/**
 * `npm run test:setup`, which npm test runs once before the test files: installs the Debian
 * packages some tests drive for real — chromium (dashboard browser tests), postgresql (cluster mode and the
 * cluster pass), nginx (deploy recipes), faketime (a wall-clock step of a running server), strace (the syncs
 * behind a durable write) — with one apt-get update and one apt-get install of
 * those that are absent, when this is root (bounded; it waits for a dpkg lock held by another apt
 * run); and, at the same time, the pinned coding-agent clients — Claude Code, Codex, Copilot CLI,
 * Gemini CLI, OpenCode, Kilo Code — (npm, each into a gitignored folder of test-output/, never
 * dependencies of the package: hundreds of MB a user's npm install must not fetch), which the tests
 * that drive the real clients run (test/helpers/<client>.ts). The tests themselves install nothing: what could not be had is written down
 * (test/helpers/apt.ts), and the tests that need it skip with the reason. Never fails the run.
 * Not tap's `before` hook: tap runs that with coverage on, and the coverage report of the compiled
 * setup then fails the whole run.
 */
import { aptInstall } from '../helpers/apt.js';
import { CHROMIUM } from '../helpers/browser.js';
import { CLAUDE_CODE_PACKAGE, installClaudeCode } from '../helpers/claude-code.js';
import { CODEX_PACKAGE, installCodex } from '../helpers/codex.js';
import { COPILOT_PACKAGE, installCopilot } from '../helpers/copilot.js';
import { FAKETIME } from '../helpers/faketime.js';
import { GEMINI_PACKAGE, installGemini } from '../helpers/gemini.js';
import { NGINX } from '../helpers/nginx.js';
import { installKilo, installOpencode, KILO_PACKAGE, OPENCODE_PACKAGE } from '../helpers/opencode.js';
import { POSTGRESQL } from '../helpers/postgres.js';
import { STRACE } from '../helpers/strace.js';

/** apt-get update + install of all of them on a fresh machine. */
const INSTALL_BUDGET_MS = 10 * 60_000;
/** A machine that has just booted may still be running its own apt for a while. */
const LOCK_WAIT_S = 180;
/** npm fetching a client (two packages, ~360–400 MB) on a slow line. */
const CLAUDE_CODE_BUDGET_MS = 5 * 60_000;
const CODEX_BUDGET_MS = 5 * 60_000;
const COPILOT_BUDGET_MS = 5 * 60_000;
const GEMINI_BUDGET_MS = 5 * 60_000;
const OPENCODE_BUDGET_MS = 5 * 60_000;

try {
  const started = Date.now();
  // All at once: apt and the npm registry are different servers, and each client goes to a folder of its own.
  const clients: Array<[string, Promise<string | null>]> = [
    [CLAUDE_CODE_PACKAGE, installClaudeCode(CLAUDE_CODE_BUDGET_MS)],
    [CODEX_PACKAGE, installCodex(CODEX_BUDGET_MS)],
    [COPILOT_PACKAGE, installCopilot(COPILOT_BUDGET_MS)],
    [GEMINI_PACKAGE, installGemini(GEMINI_BUDGET_MS)],
    [OPENCODE_PACKAGE, installOpencode(OPENCODE_BUDGET_MS)],
    [KILO_PACKAGE, installKilo(OPENCODE_BUDGET_MS)],
  ];
  const results = await aptInstall([CHROMIUM, POSTGRESQL, NGINX, FAKETIME, STRACE], INSTALL_BUDGET_MS, LOCK_WAIT_S);
  for (const [pkg, why] of results) if (why !== null) process.stderr.write(`# tests that need ${pkg} will skip: ${why}\n`);
  for (const [pkg, done] of clients) {
    const why = await done;
    if (why !== null) process.stderr.write(`# tests that drive ${pkg} will skip: ${why}\n`);
  }
  const took = Date.now() - started;
  if (took > 1000) process.stderr.write(`# test setup: installing packages took ${(took / 1000).toFixed(0)} s\n`);
} catch (e) {
  process.stderr.write(`# test setup failed: ${(e as Error).message}\n`);
}
