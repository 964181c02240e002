import t from 'tap';
import { openPg } from '../../src/shared/pg.js';
import { LEASE_KEYS_STARTING_PG, LEASE_KEYS_UNDER, LEASE_LIVE, leaseCandidates, leaseKey, leaseKeyFloor } from '../../schemas/db/leases.js';
import { freshDatabase, filePostgres } from '../helpers/postgres.js';
import { spawnServer } from '../helpers/server.js';
import { prefixEnd } from '../../src/shared/path-glob.js';

/**
 * A lease check on PostgreSQL reads the lease-resource index, whatever plan PostgreSQL caches. A
 * node's statements are prepared: after a few runs PostgreSQL may keep a generic plan, made
 * without the parameters' values (and, early on, with an almost empty table's statistics). The
 * plain join of lease_resources and leases then read every lease (0.45 ms a check at 10,000
 * leases, growing with them); the candidates statement reads the index first, then each lease by
 * its id. Checked with the generic plan forced, on a database holding a few hundred leases.
 */
const started = await filePostgres();
if ('skipped' in started) {
  t.skip(`lease checks' plans on PostgreSQL: ${started.skipped}`);
} else {
  const pg = started;
  t.teardown(() => pg.stop());
  const database = await freshDatabase(pg, 'plans');
  const node = await spawnServer(['--database', database]);
  t.teardown(() => node.child.kill('SIGKILL'));
  const post = async (p: string, body: unknown, headers: Record<string, string> = {}) => {
    const r = await fetch(`${node.url}${p}`, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json', ...headers } });
    if (r.status !== 200) throw new Error(`${p}: ${r.status} ${await r.text()}`);
    return (await r.json()) as { id: string };
  };
  const holder = await post('/api/instances/register', { name: 'holder', workspace: 'shop' });
  for (let i = 0; i < 300; i++) await post('/api/leases', { project: 'shop', resources: [`src/m${i % 7}/f${i}.ts`], exclusive: true }, { 'x-koor-instance': holder.id });

  const sql = openPg(database, { max: 1, name: 'koor-test-plans' });
  t.teardown(() => sql.end({ timeout: 1 }));
  await sql.unsafe('ANALYZE');
  await sql.unsafe('SET plan_cache_mode = force_generic_plan');

  const key = leaseKey('shop', 'src/m3/f3.ts');
  const dir = leaseKey('shop', 'src/m3/');
  const hex = (b: Buffer) => `'\\x${b.toString('hex')}'::bytea`;
  const cases: Array<{ name: string; keys: string; args: string[] }> = [
    { name: 'keys that are prefixes of a path (a hook\'s check)', keys: LEASE_KEYS_STARTING_PG, args: [hex(key), String(leaseKeyFloor('shop')), String(key.length)] },
    { name: 'keys under a glob\'s prefix', keys: LEASE_KEYS_UNDER, args: [hex(dir), hex(prefixEnd(dir))] },
    { name: 'both (a lease taken)', keys: `${LEASE_KEYS_STARTING_PG} OR (${LEASE_KEYS_UNDER})`, args: [hex(key), String(leaseKeyFloor('shop')), String(key.length), hex(key), hex(prefixEnd(key))] },
  ];
  for (const [i, c] of cases.entries()) {
    t.test(c.name, async (t) => {
      const text = leaseCandidates({ sqlite: '', pg: c.keys }, LEASE_LIVE).pg;
      await sql.unsafe(`PREPARE cand${i} AS ${text}`);
      const plan = (await sql.unsafe(`EXPLAIN EXECUTE cand${i}(${[...c.args, String(Date.now())].join(', ')})`)).map((r) => String(r['QUERY PLAN'])).join('\n');
      t.notMatch(plan, /Seq Scan on leases/, `no lease read but by its id:\n${plan}`);
      t.match(plan, /Index Scan using leases_pkey on leases/, 'each candidate\'s lease by its id');
      const rows = await sql.unsafe(`EXECUTE cand${i}(${[...c.args, String(Date.now())].join(', ')})`);
      t.ok(rows.some((r) => r.held === 'src/m3/f3.ts'), 'and the lease on the file is found');
    });
  }

  t.test('at a few thousand keys, a plan made with the path probes the index for its prefixes, not every key (PG_RANDOM_PAGE_COST)', async (t) => {
    const first = (await sql.unsafe('SELECT id FROM leases ORDER BY seq LIMIT 1'))[0]!.id as string;
    const floor = leaseKey('shop', '').toString('hex');
    await sql.unsafe(`INSERT INTO lease_resources (prefix, lease_id, resource) SELECT decode('${floor}', 'hex') || convert_to('pad/' || n || '.ts', 'UTF8'), '${first}', 'pad/' || n || '.ts' FROM generate_series(1, 2000) n`);
    await sql.unsafe('ANALYZE lease_resources');
    await sql.unsafe('SET plan_cache_mode = force_custom_plan');
    const args = [...cases[0]!.args, String(Date.now())].join(', ');
    const plan = (await sql.unsafe(`EXPLAIN EXECUTE cand0(${args})`)).map((r) => String(r['QUERY PLAN'])).join('\n');
    t.notMatch(plan, /Seq Scan on lease_resources/, `the index probed:\n${plan}`);
    t.match(plan, /Index (Only )?Scan using lease_resources_pkey/);
  });
}
