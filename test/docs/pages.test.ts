import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { REPO, repoPath } from '../helpers/paths.js';
import { TEST_BACKEND } from '../helpers/server.js';

/**
 * README.md and docs/ as a reader meets them: README a front door (at most 25 KB), every relative
 * link and `#anchor` leading somewhere, and no reference a reader cannot follow (an issue number,
 * a section of a design note not in the repository).
 */

const README_MAX_BYTES = 25 * 1024;
const skip = TEST_BACKEND === 'sqlite' ? false : 'the pages read no storage: checked in the main pass';

/** The Markdown files a reader reaches: README, docs/, and the READMEs of deploy/ and bench/. */
function pages(): string[] {
  const docs = fs.readdirSync(repoPath('docs')).filter((f) => f.endsWith('.md')).map((f) => repoPath('docs', f));
  return [repoPath('README.md'), ...docs, repoPath('deploy', 'README.md'), repoPath('bench', 'README.md')].filter((f) => fs.existsSync(f));
}

/** The text outside fenced code blocks and inline code, where links and prose are. */
const prose = (md: string): string => md.replace(/^```[\s\S]*?^```$/gm, '').replace(/`[^`\n]*`/g, '');

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
function anchors(md: string): Set<string> {
  const out = new Set<string>();
  const seen = new Map<string, number>();
  for (const m of md.replace(/^```[\s\S]*?^```$/gm, '').matchAll(/^#{1,6} (.+)$/gm)) {
    const base = m[1]!
      .replace(/`/g, '')
      .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
      .trim()
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

t.test('README.md is a front door: at most 25 KB, and it names the test command', { skip }, async (t) => {
  const readme = fs.readFileSync(repoPath('README.md'));
  t.ok(readme.length <= README_MAX_BYTES, `README.md is ${readme.length} bytes (at most ${README_MAX_BYTES})`);
  t.match(readme.toString(), /```sh\nnpm test\n```/, 'the test command, in a block of its own (CI runs it)');
});

t.test('every relative link and anchor of README.md and docs/ resolves', { skip }, async (t) => {
  const broken: string[] = [];
  let checked = 0;
  for (const file of pages()) {
    const md = fs.readFileSync(file, 'utf8');
    for (const m of prose(md).matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
      const target = m[1]!;
      if (/^[a-z]+:/i.test(target)) continue; // http:, https:, mailto:
      checked++;
      const [p, anchor] = target.split('#') as [string, string | undefined];
      const dest = p === '' ? file : path.resolve(path.dirname(file), decodeURIComponent(p));
      const where = `${path.relative(REPO, file)}: ${target}`;
      if (!fs.existsSync(dest)) {
        broken.push(`${where} (no such file)`);
        continue;
      }
      if (anchor !== undefined && dest.endsWith('.md') && !anchors(fs.readFileSync(dest, 'utf8')).has(anchor)) broken.push(`${where} (no such heading)`);
    }
  }
  t.ok(checked > 100, `links checked: ${checked}`);
  t.same(broken, [], 'no broken link');
});

t.test('no reference a reader cannot follow: issue numbers, sections of notes outside the repository', { skip }, async (t) => {
  const found: string[] = [];
  for (const file of pages()) {
    const lines = fs.readFileSync(file, 'utf8').split('\n');
    lines.forEach((line, i) => {
      for (const m of line.matchAll(/\bissues? \d+|SPEC(?:\.md)? ?§|§ ?\d/gi)) found.push(`${path.relative(REPO, file)}:${i + 1}: ${m[0]}`);
    });
  }
  t.same(found, [], 'none');
});
