/**
 * `npm run test:setup`, which npm test runs once before the test files: installs the Debian
 * packages some tests drive for real — chromium (dashboard browser tests), postgresql (cluster mode and the
 * cluster pass), nginx (deploy recipes), faketime (a wall-clock step of a running server), strace (the syncs
 * behind a durable write) — with one apt-get update and one apt-get install of
 * those that are absent, when this is root (bounded; it waits for a dpkg lock held by another apt
 * run); and the pinned Claude Code and Codex clients (npm, into gitignored test-output/claude-code/ and
 * test-output/codex/, never dependencies of the package: ~360 and ~400 MB a user's npm install must
 * not fetch), which the tests that drive the real clients run (test/helpers/claude-code.ts, codex.ts). The tests themselves install nothing: what could not be had is written down
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
  const results = await aptInstall([CHROMIUM, POSTGRESQL, NGINX, FAKETIME, STRACE], INSTALL_BUDGET_MS, LOCK_WAIT_S);
  for (const [pkg, why] of results) if (why !== null) process.stderr.write(`# tests that need ${pkg} will skip: ${why}\n`);
  const cc = await installClaudeCode(CLAUDE_CODE_BUDGET_MS);
  if (cc !== null) process.stderr.write(`# tests that drive ${CLAUDE_CODE_PACKAGE} will skip: ${cc}\n`);
  const cx = await installCodex(CODEX_BUDGET_MS);
  if (cx !== null) process.stderr.write(`# tests that drive ${CODEX_PACKAGE} will skip: ${cx}\n`);
  const cp = await installCopilot(COPILOT_BUDGET_MS);
  if (cp !== null) process.stderr.write(`# tests that drive ${COPILOT_PACKAGE} will skip: ${cp}\n`);
  const gm = await installGemini(GEMINI_BUDGET_MS);
  if (gm !== null) process.stderr.write(`# tests that drive ${GEMINI_PACKAGE} will skip: ${gm}\n`);
  const oc = await installOpencode(OPENCODE_BUDGET_MS);
  if (oc !== null) process.stderr.write(`# tests that drive ${OPENCODE_PACKAGE} will skip: ${oc}\n`);
  const kc = await installKilo(OPENCODE_BUDGET_MS);
  if (kc !== null) process.stderr.write(`# tests that drive ${KILO_PACKAGE} will skip: ${kc}\n`);
  const took = Date.now() - started;
  if (took > 1000) process.stderr.write(`# test setup: installing packages took ${(took / 1000).toFixed(0)} s\n`);
} catch (e) {
  process.stderr.write(`# test setup failed: ${(e as Error).message}\n`);
}
