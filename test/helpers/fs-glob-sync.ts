/**
 * Preload (`node --import <this file, compiled>`) that lets a program written for Node 22 import
 * `globSync` from 'fs' on Node 20, the only Node this package supports: the MCP conformance suite
 * (@modelcontextprotocol/conformance, test/mcp/conformance.test.ts) does, though only its
 * `tier-check` command calls it. Setting `fs.globSync` from a `--require` preload is not enough:
 * the names an ES module may import from a builtin are fixed when the builtin is first required,
 * before the preload could add one. So a resolve hook hands the suite's own modules, in place of
 * 'fs', a module that is 'fs' plus the `globSync` below; everything else gets the real 'fs'. On a
 * Node that has `fs.globSync` this does nothing.
 */
import fs from 'node:fs';
import { register } from 'node:module';
import path from 'node:path';
import { isMainThread } from 'node:worker_threads';

/** Whose imports of 'fs' are answered with FS_WITH_GLOB. */
const SUITE = '/node_modules/@modelcontextprotocol/conformance/';
const FS_WITH_GLOB =
  'data:text/javascript,' +
  encodeURIComponent(`import fs from 'node:fs';\nexport * from 'node:fs';\nexport default fs;\nexport { globSync } from ${JSON.stringify(import.meta.url)};\n`);

/** A glob as a regular expression on '/'-separated relative paths: `**` any directories, `*` and `?` within one name. */
function globRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (glob.startsWith('**/', i)) {
      re += '(?:[^/]*/)*';
      i += 2;
    } else if (glob.startsWith('**', i)) {
      re += '.*';
      i += 1;
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** Node 22's `fs.globSync(pattern, { cwd })` for `*`, `**` and `?`: the matching paths under cwd, relative to it. */
export function globSync(pattern: string | readonly string[], options: { cwd?: string } = {}): string[] {
  const cwd = options.cwd ?? process.cwd();
  const res = (typeof pattern === 'string' ? [pattern] : pattern).map(globRegExp);
  let entries: string[];
  try {
    entries = fs.readdirSync(cwd, { recursive: true, encoding: 'utf8' });
  } catch {
    return [];
  }
  return entries.filter((e) => res.some((re) => re.test(e.split(path.sep).join('/'))));
}

export async function resolve(specifier: string, context: { parentURL?: string }, next: (specifier: string, context: object) => Promise<unknown>): Promise<unknown> {
  if ((specifier === 'fs' || specifier === 'node:fs') && context.parentURL?.includes(SUITE)) return { url: FS_WITH_GLOB, shortCircuit: true };
  return next(specifier, context);
}

// The hooks run on a thread of their own, which loads this file again: registered once, from the main thread.
if (isMainThread && !('globSync' in fs)) register(import.meta.url);
