import t from 'tap';
import Database from 'better-sqlite3';
import { compileGlob, globMatch, globToRegExpSource, isValidGlob, sqliteGlobOf } from '../../src/bus/glob.js';

/** [pattern, subject, expected] — SPEC §1.6 (a port of Go's path.Match). */
const TABLE: Array<[string, string, boolean]> = [
  // `*` crosses dots but not slashes
  ['api.*', 'api.change', true],
  ['api.*', 'api.change.contract', true],
  ['api.*', 'api.', true],
  ['api.*', 'apix', false],
  ['*.js', 'a.js', true],
  ['*.js', 'src/a.js', false],
  ['*', 'anything.at.all', true],
  ['*', 'with/slash', true], // "*" is the match-all convention
  ['', 'x', true],
  ['a*b', 'ab', true],
  ['a*b', 'axxxb', true],
  ['a*b', 'axx/b', false],
  ['a*b*c', 'abbbcbc', true],
  // `?`
  ['a?c', 'abc', true],
  ['a?c', 'ac', false],
  ['a?c', 'a/c', false],
  ['a?c', 'aéc', true],
  // classes
  ['[abc]x', 'bx', true],
  ['[abc]x', 'dx', false],
  ['[a-c]x', 'cx', true],
  ['[^a-c]x', 'dx', true],
  ['[^a-c]x', 'ax', false],
  ['[\\]]', ']', true],
  ['[\\-]', '-', true],
  ['[a-]', 'a', false], // malformed
  ['[z-a]', 'm', false], // Go accepts reversed ranges; they never match
  ['[^z-a]', 'm', true],
  ['x[', 'x[', false], // malformed → matches nothing
  ['[]', '', false],
  ['[^]', 'a', false],
  ['[abc', 'a', false],
  // escapes
  ['\\*', '*', true],
  ['\\*', 'a', false],
  ['a\\', 'a\\', false], // trailing backslash is malformed
  ['\\[x]', '[x]', true],
  // regex metacharacters are literal
  ['a.b', 'axb', false],
  ['a+b', 'a+b', true],
  ['(x)', '(x)', true],
  ['a$', 'a$', true],
  // whole-string match
  ['api', 'api.change', false],
  ['change', 'api.change', false],
];

t.test('glob table', async (t) => {
  for (const [p, s, want] of TABLE) t.equal(globMatch(p, s), want, `${JSON.stringify(p)} ~ ${JSON.stringify(s)}`);
});

t.test('malformed patterns compile to match-nothing, never throw', async (t) => {
  for (const p of ['[', 'a[', '[a-', '[\\', '\\', 'x\\']) {
    t.equal(globToRegExpSource(p), null, p);
    t.equal(compileGlob(p)('anything'), false);
  }
});

t.test('validity: what the server refuses with 400 "invalid pattern"', async (t) => {
  for (const p of ['', '*', 'api.*', '[a-c]x', '\\*', '[^z-a]']) t.ok(isValidGlob(p), `${JSON.stringify(p)} is valid`);
  for (const p of ['[', 'x[', '[abc', '[]', '[^]', 'a\\', '[a-']) t.notOk(isValidGlob(p), `${JSON.stringify(p)} is malformed`);
});

t.test('the SQLite prefilter never drops a match (it may keep more; the exact check runs after)', async (t) => {
  const db = new Database(':memory:');
  t.teardown(() => db.close());
  const glob = db.prepare<[string, string], number>('SELECT ? GLOB ?').pluck();
  const subjects = [...new Set(TABLE.map(([, s]) => s)), 'api.x/y', 'v2.build', 'a*b', 'dir/a.b', '', 'é', '[x]', 'ab]', 'a-b'];
  let checked = 0;
  for (const p of [...new Set(TABLE.map(([p]) => p)), 'dir/*', '?2.*', 'a\\*b', '*]', '[a\\]]*', '[^\\-]x', 'v[0-9].*']) {
    if (!isValidGlob(p) || p === '' || p === '*') continue;
    const { glob: sql, exact } = sqliteGlobOf(p);
    for (const s of subjects) {
      const want = globMatch(p, s);
      if (want) {
        t.equal(glob.get(s, sql), 1, `${JSON.stringify(p)} → GLOB ${JSON.stringify(sql)} keeps ${JSON.stringify(s)}`);
        checked++;
      } else if (exact && !s.includes('/')) {
        // Where the SQL alone decides (no '/', exact translation) it must not keep extras.
        t.equal(glob.get(s, sql), 0, `${JSON.stringify(p)} → GLOB ${JSON.stringify(sql)} (exact) drops ${JSON.stringify(s)}`);
      }
    }
  }
  t.ok(checked > 20, `${checked} matching pairs checked`);
  t.equal(glob.get('api.change', sqliteGlobOf('api.*').glob), 1);
  t.equal(glob.get('build.done', sqliteGlobOf('api.*').glob), 0, 'and it does discard what cannot match');
  t.equal(sqliteGlobOf('a[\\]x]').exact, false, 'a class with escapes is widened, and says so');
});
