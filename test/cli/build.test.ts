import fs from 'node:fs';
import { builtinModules } from 'node:module';
import path from 'node:path';
import t from 'tap';
import { repoPath } from '../helpers/paths.js';

/**
 * What `npm run build` made of the CLI (cli/build.mjs): CommonJS that loads node builtins, ws,
 * clipanion and its own modules, nothing else (the reply types of schemas/http/ leave nothing
 * behind), with the runtime of cli/core/ as one module, so the start path is the four modules it
 * was before the runtime was split into files: main.js, core.js, registry.js and the command's.
 */

const OUT = repoPath('dist', 'cli-cjs');
const PACKAGES = ['ws', 'clipanion'];

function modules(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? modules(p) : e.name.endsWith('.js') ? [p] : [];
  });
}

const requiresOf = (file: string): string[] => [...fs.readFileSync(file, 'utf8').matchAll(/\brequire\((["'])([^"']+)\1\)/g)].map((m) => m[2]!);

t.test('the compiled CLI requires only builtins, ws, clipanion and its own modules', async (t) => {
  const files = modules(OUT);
  t.ok(files.length > 60, `${files.length} modules`);
  const outside: string[] = [];
  for (const file of files) {
    for (const spec of requiresOf(file)) {
      if (spec.startsWith('.')) {
        const to = path.resolve(path.dirname(file), spec);
        if (!to.startsWith(OUT + path.sep) || !fs.existsSync(to)) outside.push(`${path.relative(OUT, file)} -> ${spec}`);
      } else if (!builtinModules.includes(spec.replace(/^node:/, '')) && !PACKAGES.includes(spec)) {
        outside.push(`${path.relative(OUT, file)} -> ${spec}`);
      }
    }
  }
  t.same(outside, [], 'no require of schemas/, TypeBox or anything else');
  t.notOk(fs.readFileSync(path.join(OUT, 'core.js'), 'utf8').includes('typebox'), 'no TypeBox in the runtime');
});

t.test('the runtime is one module: cli/core/ is bundled into core.js', async (t) => {
  t.notOk(fs.existsSync(path.join(OUT, 'core')), 'no dist/cli-cjs/core/');
  t.same(
    requiresOf(path.join(OUT, 'core.js')).filter((s) => s.startsWith('.')),
    [],
    'core.js requires none of its parts',
  );
  const start = requiresOf(path.join(OUT, 'main.js')).filter((s) => s.startsWith('.'));
  t.same([...new Set(start)].sort(), ['./clipanion.js', './core.js', './registry.js'], 'main.js: the runtime, the registry and (on demand) clipanion');
  t.same(requiresOf(path.join(OUT, 'commands', 'state-get.js')), ['../core.js'], 'a command: the runtime only');
});
