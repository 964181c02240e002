import t from 'tap';
import { globMatch, postgresRegexOf } from '../../src/shared/glob.js';
import { openPg } from '../../src/shared/pg.js';
import { GLOB_TABLE } from '../helpers/glob-table.js';
import { filePostgres } from '../helpers/postgres.js';

/**
 * Cluster mode filters event topics in PostgreSQL with postgresRegexOf(pattern): it must match
 * exactly what the glob matcher matches, on the same table the matcher is tested with.
 */
const started = await filePostgres();
if ('skipped' in started) {
  t.skip(`topic globs as PostgreSQL regular expressions: ${started.skipped}`);
} else {
  const pg = started;
  const sql = openPg(pg.url, { max: 1, name: 'koor-glob-test' });
  t.teardown(async () => {
    await sql.end({ timeout: 1 });
    await pg.stop();
  });

  t.test('every pattern of the glob table matches in PostgreSQL as in the matcher', async (t) => {
    const extra: Array<[string, string]> = [
      ['a*', 'a\nb'],
      ['é?', 'éa'],
      ['[é-ü]x', 'öx'],
      ['agent.*.done', 'agent.x.done'],
      ['\\u{1F600}*', '\u{1F600}a'],
      ['*😀', 'x😀'],
      ['a[^/]b', 'a/b'],
    ];
    const cases = [...GLOB_TABLE.map(([p, s]) => [p, s] as [string, string]), ...extra].filter(([p]) => p !== '' && p !== '*');
    for (const [pattern, subject] of cases) {
      const re = postgresRegexOf(pattern);
      const want = globMatch(pattern, subject);
      const got = re === null ? false : (await sql<{ m: boolean }[]>`SELECT ${subject}::text ~ ${re} AS m`)[0]!.m;
      t.equal(got, want, `${JSON.stringify(pattern)} vs ${JSON.stringify(subject)}`);
    }
  });
}
