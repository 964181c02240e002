/**
 * The real Codex CLI, driven offline, for the tests — beside test/helpers/claude-code.ts and built
 * the same way: the pinned release installed by the test setup (`npm run test:setup`, into
 * gitignored test-output/codex/<version>/, never a dependency of the package), the scripted fake
 * Responses API and runCodex() from bench/clients/codex.ts; this adds the setup's notes (why the client is
 * missing, so the tests skip with the reason), tap teardown and listCodexHooks() (Codex's own app
 * server, through the client koor-cli init --codex --trust uses). What the client
 * does with hooks is written down, with how it was verified, in CODEX-FACTS.md beside this file.
 */
import { note, provided, type Needed } from './apt.js';
import { baseEnv, CODEX_DIR, codexBinary, installCodexBinary, startFakeResponsesApi, type CodexScript, type FakeApi } from '../../bench/clients/codex.js';
import { withAppServer } from '../../cli/hooks/codex-config.js';

export {
  CODEX_DIR,
  CODEX_DONE,
  CODEX_MODEL,
  CODEX_PACKAGE,
  CODEX_USAGE,
  CODEX_VERSION,
  codexBinary,
  codexRequestText,
  codexRequestTexts,
  codexToolOutputs,
  developerNotes,
  providerArgs,
  runCodex,
  type CodexReply,
  type CodexRunOptions,
  type CodexRunResult,
  type CodexScript,
} from '../../bench/clients/codex.js';

/** For test/helpers/apt.ts's note and provided(): "codex" is the note's name. */
export const CODEX: Needed = { pkg: 'codex', find: codexBinary };

/** The executable, or why the tests that drive the client skip (never a silent pass). */
export function codex(): { path: string } | { skip: string } {
  const found = provided(CODEX);
  if ('path' in found) return found;
  return { skip: `no Codex client: ${found.skip.replace(/\("npm run test:setup" installs it with apt-get as root\)/, '("npm run test:setup" installs it with npm)')}` };
}

/**
 * Run once before the test files (`npm run test:setup`, test/setup/install.ts): installs the pinned
 * client unless a working copy is there, within `budgetMs`. What could not be had is written down
 * and the tests that need it skip with the reason. Returns the reason, or null. Never throws.
 */
export async function installCodex(budgetMs: number): Promise<string | null> {
  const why = await installCodexBinary(budgetMs);
  note(CODEX.pkg, why);
  return why;
}

export interface HookListing {
  key: string;
  eventName: string;
  matcher: string | null;
  command?: string;
  trustStatus: string;
  currentHash: string;
  sourcePath: string;
}

/** The hooks Codex finds for a project (HOME `home`), with their trust status and the warnings of loading them. */
export async function listCodexHooks(home: string, root: string): Promise<{ hooks: HookListing[]; warnings: string[]; errors: unknown[] }> {
  const bin = codexBinary();
  if (bin === null) throw new Error(`Codex is not installed in ${CODEX_DIR} (npm run test:setup)`);
  return withAppServer(bin, baseEnv(home), 'listing the hooks', async (call) => {
    const d = (await call('hooks/list', { cwds: [root] }))?.data?.[0] ?? {};
    return { hooks: d.hooks ?? [], warnings: d.warnings ?? [], errors: d.errors ?? [] };
  });
}

/** The fake Responses API (bench/clients/codex.ts), closed at teardown. */
export async function startCodexApi(t: { teardown(fn: () => unknown): void }, script: CodexScript = []): Promise<FakeApi> {
  const api = await startFakeResponsesApi(script);
  t.teardown(() => api.close());
  return api;
}
