/**
 * The real OpenCode client, driven offline, for the tests — beside test/helpers/codex.ts and built
 * the same way: the pinned release installed by the test setup (`npm run test:setup`, into
 * gitignored test-output/opencode/<version>/, never a dependency of the package), runOpencode() from
 * bench/clients/opencode.ts against the scripted fake Chat Completions API (bench/clients/fake-chat.ts); this adds
 * the setup's notes (why the client is missing, so the tests skip with the reason) and tap
 * teardown. What the client does with plugins is written down, with how it was verified, in
 * OPENCODE-FACTS.md beside this file.
 */
import { note, provided, type Needed } from './apt.js';
import { installKiloBinary, installOpencodeBinary, kiloBinary, opencodeBinary } from '../../bench/clients/opencode.js';
import { startFakeChatApi, type ChatScript } from '../../bench/clients/fake-chat.js';
import type { FakeApi } from '../../bench/clients/claude-code.js';

export {
  hookCost,
  KILO_PACKAGE,
  KILO_VERSION,
  kiloBinary,
  OPENCODE_DIR,
  OPENCODE_MODEL,
  OPENCODE_PACKAGE,
  OPENCODE_VERSION,
  opencodeBinary,
  runOpencode,
  skipPluginInstall,
  type OpencodeRunOptions,
  type OpencodeRunResult,
} from '../../bench/clients/opencode.js';
export { chatRequestText, chatToolNames, chatToolResults, type ChatReply, type ChatScript } from '../../bench/clients/fake-chat.js';
export type { FakeApi } from '../../bench/clients/claude-code.js';

/** For test/helpers/apt.ts's note and provided(): "opencode" is the note's name. */
export const OPENCODE: Needed = { pkg: 'opencode', find: opencodeBinary };

/** The executable, or why the tests that drive the client skip (never a silent pass). */
export function opencode(): { path: string } | { skip: string } {
  const found = provided(OPENCODE);
  if ('path' in found) return found;
  return { skip: `no OpenCode client: ${found.skip.replace(/\("npm run test:setup" installs it with apt-get as root\)/, '("npm run test:setup" installs it with npm)')}` };
}

/**
 * Run once before the test files (`npm run test:setup`, test/setup/install.ts): installs the pinned
 * client unless a working copy is there, within `budgetMs`. What could not be had is written down
 * and the tests that need it skip with the reason. Returns the reason, or null. Never throws.
 */
export async function installOpencode(budgetMs: number): Promise<string | null> {
  const why = await installOpencodeBinary(budgetMs);
  note(OPENCODE.pkg, why);
  return why;
}

/** Kilo Code's CLI, built on OpenCode: "kilo" is the note's name. */
export const KILO: Needed = { pkg: 'kilo', find: kiloBinary };

/** The Kilo executable, or why the tests that drive it skip. */
export function kiloCli(): { path: string } | { skip: string } {
  const found = provided(KILO);
  if ('path' in found) return found;
  return { skip: `no Kilo Code CLI: ${found.skip.replace(/\("npm run test:setup" installs it with apt-get as root\)/, '("npm run test:setup" installs it with npm)')}` };
}

/** As installOpencode, for the Kilo Code CLI. */
export async function installKilo(budgetMs: number): Promise<string | null> {
  const why = await installKiloBinary(budgetMs);
  note(KILO.pkg, why);
  return why;
}

/** The fake Chat Completions API (bench/clients/fake-chat.ts), closed at teardown. */
export async function startOpencodeApi(t: { teardown(fn: () => unknown): void }, script: ChatScript = []): Promise<FakeApi> {
  const api = await startFakeChatApi(script);
  t.teardown(() => api.close());
  return api;
}
