import fs from 'node:fs';

/**
 * Every file of test/unit, run in this one process, one after another (in name order): a test
 * file of its own cost tap ~1 s of CPU before its first test (two node processes, tap and its
 * plugins loaded), while most of these take a few milliseconds; 42 of them paid ~40 s of the
 * main pass's CPU. tap skips the folder itself (package.json's `tap.exclude`); one file still
 * runs alone as usual: `npx tap dist/test/unit/path-glob.test.js`.
 */
const dir = new URL('./unit/', import.meta.url);
for (const name of fs.readdirSync(dir).filter((n) => n.endsWith('.test.js')).sort()) await import(new URL(name, dir).href);
