/**
 * Runs once before the test files (package.json "tap.before"): makes sure the browser tests have
 * a browser. Debian's chromium is installed with apt-get when it is absent and this is root
 * (bounded; it waits for a dpkg lock held by another apt run). When that is not possible the
 * reason is written for the browser tests, which then skip with it. Never fails the run.
 */
import { ensureChromium, writeSetupNote } from '../helpers/browser.js';

/** apt-get update + install chromium and its libraries on a fresh machine. */
const INSTALL_BUDGET_MS = 10 * 60_000;

try {
  const r = await ensureChromium(INSTALL_BUDGET_MS);
  if ('skip' in r) {
    writeSetupNote(r.skip);
    process.stderr.write(`# browser tests will skip: ${r.skip}\n`);
  } else writeSetupNote(null);
} catch (e) {
  writeSetupNote(`browser setup failed: ${(e as Error).message}`);
  process.stderr.write(`# browser setup failed: ${(e as Error).message}\n`);
}
