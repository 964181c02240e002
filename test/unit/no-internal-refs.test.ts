import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { REPO } from '../helpers/paths.js';

/**
 * No reference a reader of the repository cannot follow, in the code and everything beside it: an
 * issue number ("(issue 30)", "issues 44, 78", one split across a comment's lines), a section of a
 * design note that is not in the repository ("SPEC §2.7", "§7-24", "NOTES §8"), or that note by
 * name ("the SPEC says"). A comment says what it means instead, or points to a page of docs/. The
 * failure lists each as file:line. README.md and docs/ are checked by test/docs/pages.test.ts.
 */

const ROOTS = ['src', 'workers', 'schemas', 'cli', 'dashboard/src', 'test', 'bench'];
/** Never read: built or installed trees and tap's own, wherever they are. */
const SKIP_DIRS = new Set(['node_modules', 'dist', '.tap']);
/** Not read (relative to the repository). */
const SKIP = new Set([
  // Captures of what real clients sent, byte for byte.
  'test/fixtures',
  // What benchmark runs wrote here (not kept in git).
  'bench/results',
  // This file, whose patterns and examples would match.
  'test/unit/no-internal-refs.test.ts',
]);

/**
 * An issue number (its number may be on the comment's next line), a section sign with a number,
 * or the design note by name. `SPEC(` is a pattern's own text (test/docs/pages.test.ts).
 */
const REF = /\b[Ii]ssues?(?:[ \t]+|[ \t]*\r?\n[ \t]*(?:\*|\/\/|#)?[ \t]*)\d+|§[ \t]?\d|\bSPEC\b(?!\()/g;

/**
 * References in text a user sees, left as they are until changing it is decided on its own (a
 * metric's help text, a migration's name stored in every data file, a benchmark report's title):
 * each is [file, the lines they are on, how many references, why]. Listed exactly so the list can
 * only shrink: a new reference on such a line fails, and so does one that is gone (lower the count).
 */
const KNOWN: ReadonlyArray<[file: string, line: RegExp, refs: number, why: string]> = [
  ['schemas/db/sqlite-migrations-first.ts', /^\s+name: ['"]/, 2, "a migration's name, stored in every data file's koor_schema"],
  ['schemas/db/sqlite-migrations.ts', /^\s+name: ['"]/, 16, "a migration's name, stored in every data file's koor_schema"],
  ['schemas/db/pg-migrations.ts', /^\s+name: ['"]/, 14, "a migration's name, stored in every database's koor_schema"],
];

function files(rel: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(path.join(REPO, rel), { withFileTypes: true })) {
    const p = `${rel}/${e.name}`;
    if (SKIP.has(p) || (e.isDirectory() && SKIP_DIRS.has(e.name))) continue;
    if (e.isDirectory()) out.push(...files(p));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

t.test('no issue numbers or sections of notes outside the repository in the code, its tests and benchmarks', async (t) => {
  const found: string[] = [];
  const counted = KNOWN.map(() => 0);
  let read = 0;
  for (const file of ROOTS.flatMap(files)) {
    const buf = fs.readFileSync(path.join(REPO, file));
    if (buf.includes(0)) continue; // binary
    read++;
    const text = buf.toString('utf8');
    const lines = text.split('\n');
    for (const m of text.matchAll(REF)) {
      const n = text.slice(0, m.index).split('\n').length;
      const line = lines[n - 1]!;
      const known = KNOWN.findIndex(([f, re]) => f === file && re.test(line));
      if (known >= 0) counted[known]!++;
      else found.push(`${file}:${n}: ${m[0].replace(/\s+/g, ' ')}`);
    }
  }
  t.ok(read > 500, `files read: ${read}`);
  t.same(found, [], 'none: say what it means, or link the page of docs/ that says it');
  t.same(
    KNOWN.flatMap(([f, re, refs], i) => (counted[i] === refs ? [] : [`${f}: ${re}: ${counted[i]} found, ${refs} listed`])),
    [],
    'the listed exceptions, exactly (a reference gone: lower its count, or remove its entry)',
  );
});
