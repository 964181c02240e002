import t from 'tap';
import fc from 'fast-check';
import Database from 'better-sqlite3';
import { LEASE_KEY_SEEK, LEASE_KEYS_UNDER } from '../../schemas/db/leases.js';
import type { Query } from '../../schemas/db/sql.js';
import { prefixEnd, prefixKeysOf } from '../../src/shared/path-glob.js';
import type { SyncTx } from '../../workers/writer/sql.js';
import { LeaseKeys } from '../../workers/writer/stores/lease-keys.js';

/** The writer's copy of the lease index keys answers the index's seeks as SQLite does (a superset's answers when keys went stale). */

function database() {
  const db = new Database(':memory:');
  db.exec('CREATE TABLE lease_resources (prefix BLOB, lease_id TEXT, resource TEXT, PRIMARY KEY (prefix, lease_id, resource)) WITHOUT ROWID');
  const tx: SyncTx & { reads: number } = {
    reads: 0,
    get: <T>(q: Query, ...p: unknown[]) => db.prepare(q.sqlite).get(...p) as T | undefined,
    all: <T>(q: Query, ...p: unknown[]) => {
      tx.reads++;
      return db.prepare(q.sqlite).all(...p) as T[];
    },
    run: (q: Query, ...p: unknown[]) => db.prepare(q.sqlite).run(...p).changes,
    insert: (q: Query, ...p: unknown[]) => Number(db.prepare(q.sqlite).run(...p).lastInsertRowid),
  };
  const insert = db.prepare('INSERT OR IGNORE INTO lease_resources VALUES (?, ?, ?)');
  const seek = (x: Buffer, inclusive: boolean) => (db.prepare((inclusive ? LEASE_KEY_SEEK.atMost : LEASE_KEY_SEEK.below).sqlite).get(x) as { prefix: Buffer } | undefined)?.prefix;
  const under = (lo: Buffer) => (db.prepare(`SELECT count(*) AS n FROM lease_resources r WHERE ${LEASE_KEYS_UNDER}`).get(lo, prefixEnd(lo)) as { n: number }).n > 0;
  return { db, tx, insert: (k: Buffer) => insert.run(k, 'l', 'r'), seek, under };
}

/** A lease index key: a project, NUL, a literal prefix (schemas/db/leases.ts); `floor` its project part's length. */
const key = fc
  .tuple(fc.constantFrom('p', 'pp', 'é'), fc.array(fc.constantFrom('a', 'b', 'é', '/', 'p'), { maxLength: 5 }))
  .map(([project, c]) => ({ key: Buffer.from(`${project}\u0000${c.join('')}`), floor: Buffer.byteLength(project) + 1 }));

t.test('prefixes and ranges from memory are what the index’s seeks answer, keys loaded or added', async (t) => {
  fc.assert(
    fc.property(fc.array(key, { maxLength: 25 }), fc.array(key, { maxLength: 10 }), fc.array(key, { minLength: 1, maxLength: 8 }), (before, added, probes) => {
      const d = database();
      for (const { key: k } of before) d.insert(k);
      const keys = new LeaseKeys(1024, 2); // runs of 2 to 4 keys: split as they grow
      keys.anyUnder(d.tx, Buffer.from('a')); // loaded from the table
      for (const { key: k } of added) {
        d.insert(k);
        keys.add(k);
      }
      for (const { key: p, floor } of probes) {
        if (keys.anyUnder(d.tx, p) !== d.under(p)) return false;
        const mem = keys.prefixesOf(d.tx, p, floor).map(String).sort();
        if (JSON.stringify(mem) !== JSON.stringify(prefixKeysOf(p, d.seek, floor).map(String).sort())) return false;
      }
      d.db.close();
      return true;
    }),
    { numRuns: 500 },
  );
});

t.test('keys gone from the table still count (absence is all that is trusted); past the bound they are read again', async (t) => {
  const d = database();
  const a = Buffer.from('p\u0000src/a.ts');
  const b = Buffer.from('p\u0000src/');
  d.insert(a);
  const keys = new LeaseKeys(2, 2);
  t.same(keys.prefixesOf(d.tx, Buffer.from('p\u0000src/a.ts'), 2), [a], 'loaded at first use');
  t.equal(d.tx.reads, 1, 'one read of the table');
  keys.add(b); // an insert rolled back: never in the table
  t.same(keys.prefixesOf(d.tx, Buffer.from('p\u0000src/a.ts'), 2).map(String), [String(b), String(a)], 'a stale key is found (its candidates read finds nothing)');
  t.equal(keys.anyUnder(d.tx, Buffer.from('p\u0000src')), true);
  t.equal(d.tx.reads, 1, 'answered from memory');
  // The bound: twice the keys read (1) and 2 more. Two more keys reach it; the next drops the copy.
  keys.add(Buffer.from('p\u0000x'));
  keys.add(Buffer.from('p\u0000y'));
  keys.add(Buffer.from('p\u0000z'));
  t.same(keys.prefixesOf(d.tx, Buffer.from('p\u0000src/a.ts'), 2), [a], 'read again: only the table’s keys');
  t.equal(d.tx.reads, 2);
  t.equal(keys.anyUnder(d.tx, Buffer.from('p\u0000q')), false, 'no key under a prefix none starts with');
  d.db.close();
});
