import fs from 'node:fs';
import t from 'tap';
import { repoPath } from '../helpers/paths.js';
import { startTestServer, TEST_BACKEND } from '../helpers/server.js';
import { apiTable, cliReference, errorsTable, generatedBlocks, settingsTable, withBlock } from './reference.js';

/**
 * docs/ kept in step with the code: each reference block of a page (every setting, every error,
 * every CLI command, every API route) is what the code makes today. Adding a flag, an error, a
 * command or a route without its docs fails here with the block's name; `npm run docs`
 * (KOOR_WRITE_DOCS=1) rewrites the blocks, and the change shows in the diff for review.
 */

const WRITE = process.env.KOOR_WRITE_DOCS === '1';
const skip = TEST_BACKEND === 'sqlite' ? false : 'docs are made from the code, not from storage: checked in the main (SQLite) pass';

t.test('docs/ reference blocks are what the code makes', { skip }, async (t) => {
  const s = await startTestServer(t);
  const doc = await (await fetch(`${s.url}/api/openapi.json`)).json();
  const blocks: Record<string, { page: string; body: () => string | Promise<string> }> = {
    settings: { page: 'configuration.md', body: settingsTable },
    errors: { page: 'errors.md', body: errorsTable },
    cli: { page: 'cli.md', body: cliReference },
    api: { page: 'api.md', body: () => apiTable(doc as Parameters<typeof apiTable>[0]) },
  };
  for (const [name, { page, body }] of Object.entries(blocks)) {
    const file = repoPath('docs', page);
    const text = fs.readFileSync(file, 'utf8');
    const block = generatedBlocks(text).get(name);
    t.ok(block, `docs/${page} has a generated:${name} block`);
    if (!block) continue;
    const want = await body();
    if (WRITE && block.body !== want) fs.writeFileSync(file, withBlock(text, name, want));
    else t.equal(block.body, want, `docs/${page} generated:${name} is current (run \`npm run docs\` and review the diff)`);
  }
});
