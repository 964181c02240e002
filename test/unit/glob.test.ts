import t from 'tap';
import Database from 'better-sqlite3';
import { GLOB_TABLE as TABLE } from '../helpers/glob-table.js';
import { compileGlob, globMatch, globToRegExpSource, isValidGlob, sqliteGlobOf } from '../../src/shared/glob.js';


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
