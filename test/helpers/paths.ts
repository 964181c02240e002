import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The repository's root, found from this file wherever it runs: test/helpers/ in the source tree,
 * or dist/test/helpers/ where `npm test` runs the compiled suite (test/build.mjs). Files that are
 * not compiled (deploy/, package.json, node_modules, the built server in dist/) are named from it.
 */
export const REPO = ((): string => {
  for (let dir = path.dirname(fileURLToPath(import.meta.url)); ; dir = path.dirname(dir)) {
    const pkg = path.join(dir, 'package.json');
    if (fs.existsSync(pkg) && (JSON.parse(fs.readFileSync(pkg, 'utf8')) as { name?: string }).name === 'koor') return dir;
    if (path.dirname(dir) === dir) throw new Error(`no koor package.json above ${fileURLToPath(import.meta.url)}`);
  }
})();

/** A path under the repository's root. */
export function repoPath(...parts: string[]): string {
  return path.join(REPO, ...parts);
}
