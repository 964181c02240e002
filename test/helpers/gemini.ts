/**
 * The real Gemini CLI, driven offline, for the tests — beside test/helpers/claude-code.ts and
 * codex.ts and built the same way: the pinned release installed by the test setup (`npm run
 * test:setup`, into gitignored test-output/gemini/<version>/, never a dependency of the package),
 * the scripted fake Gemini API and runGemini() from bench/clients/gemini.ts; this adds the setup's notes
 * (why the client is missing, so the tests skip with the reason) and tap teardown. What the client
 * does with hooks is written down, with how it was verified, in GEMINI-FACTS.md beside this file.
 */
import { note, provided, type Needed } from './apt.js';
import { geminiBinary, installGeminiBinary, startFakeGeminiApi, type FakeApi, type GeminiScript } from '../../bench/clients/gemini.js';

export {
  GEMINI_DIR,
  GEMINI_DONE,
  GEMINI_MODEL,
  GEMINI_PACKAGE,
  GEMINI_USAGE,
  GEMINI_VERSION,
  geminiBinary,
  geminiHome,
  geminiRequestText,
  geminiRequestTexts,
  geminiToolResponses,
  hookContexts,
  runGemini,
  type GeminiReply,
  type GeminiRunOptions,
  type GeminiRunResult,
  type GeminiScript,
  type GeminiToolResponse,
} from '../../bench/clients/gemini.js';

/** For test/helpers/apt.ts's note and provided(): "gemini" is the note's name. */
export const GEMINI: Needed = { pkg: 'gemini', find: geminiBinary };

/** The client's entry point, or why the tests that drive it skip (never a silent pass). */
export function gemini(): { path: string } | { skip: string } {
  const found = provided(GEMINI);
  if ('path' in found) return found;
  return { skip: `no Gemini CLI: ${found.skip.replace(/\("npm run test:setup" installs it with apt-get as root\)/, '("npm run test:setup" installs it with npm)')}` };
}

/**
 * Run once before the test files (`npm run test:setup`, test/setup/install.ts): installs the pinned
 * client unless a working copy is there, within `budgetMs`. What could not be had is written down
 * and the tests that need it skip with the reason. Returns the reason, or null. Never throws.
 */
export async function installGemini(budgetMs: number): Promise<string | null> {
  const why = await installGeminiBinary(budgetMs);
  note(GEMINI.pkg, why);
  return why;
}

/** The fake Gemini API (bench/clients/gemini.ts), closed at teardown. */
export async function startGeminiApi(t: { teardown(fn: () => unknown): void }, script: GeminiScript = []): Promise<FakeApi> {
  const api = await startFakeGeminiApi(script);
  t.teardown(() => api.close());
  return api;
}
