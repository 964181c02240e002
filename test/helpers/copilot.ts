/**
 * The real GitHub Copilot CLI, driven offline, for the tests — beside test/helpers/claude-code.ts
 * and codex.ts and built the same way: the pinned release installed by the test setup (`npm run
 * test:setup`, into gitignored test-output/copilot/<version>/, never a dependency of the package),
 * runCopilot() from bench/clients/copilot.ts and the scripted fake Chat Completions API of
 * bench/clients/fake-chat.ts; this adds the setup's notes (why the client is missing, so the tests skip
 * with the reason) and tap teardown. What the client does with hooks is written down, with how it
 * was verified, in COPILOT-FACTS.md beside this file.
 */
import { note, provided, type Needed } from './apt.js';
import { copilotBinary, installCopilotBinary } from '../../bench/clients/copilot.js';
import { startFakeChatApi, type ChatScript, type FakeApi, type FakeChatOptions } from '../../bench/clients/fake-chat.js';

export {
  COPILOT_CACHE,
  COPILOT_DIR,
  COPILOT_MODEL,
  COPILOT_PACKAGE,
  COPILOT_VERSION,
  copilotBinary,
  copilotEnv,
  hookTimings,
  runCopilot,
  sessionLog,
  type CopilotRunOptions,
  type CopilotRunResult,
} from '../../bench/clients/copilot.js';
export { CHAT_DONE, chatMessages, chatRequestText, chatRequestTexts, chatToolNames, chatToolResults, type ChatCall, type ChatReply, type ChatScript, type FakeApi } from '../../bench/clients/fake-chat.js';

/** For test/helpers/apt.ts's note and provided(): "copilot" is the note's name. */
export const COPILOT: Needed = { pkg: 'copilot', find: copilotBinary };

/** The executable, or why the tests that drive the client skip (never a silent pass). */
export function copilot(): { path: string } | { skip: string } {
  const found = provided(COPILOT);
  if ('path' in found) return found;
  return { skip: `no GitHub Copilot CLI: ${found.skip.replace(/\("npm run test:setup" installs it with apt-get as root\)/, '("npm run test:setup" installs it with npm)')}` };
}

/**
 * Run once before the test files (`npm run test:setup`, test/setup/install.ts): installs the pinned
 * client unless a working copy is there, within `budgetMs`. What could not be had is written down
 * and the tests that need it skip with the reason. Returns the reason, or null. Never throws.
 */
export async function installCopilot(budgetMs: number): Promise<string | null> {
  const why = await installCopilotBinary(budgetMs);
  note(COPILOT.pkg, why);
  return why;
}

/** The fake Chat Completions API (bench/clients/fake-chat.ts), closed at teardown. */
export async function startCopilotApi(t: { teardown(fn: () => unknown): void }, script: ChatScript = [], o: FakeChatOptions = {}): Promise<FakeApi> {
  const api = await startFakeChatApi(script, o);
  t.teardown(() => api.close());
  return api;
}
