import t from 'tap';
import { StateCache } from '../../src/domains/state/cache.js';
import { CACHE_DOORKEEPER_SLOTS as DOORKEEPER_SLOTS } from '../../src/shared/limits-features.js';

t.test('LRU bounded in bytes', async (t) => {
  const c = new StateCache(2000, 1000);
  const v = (n: number) => Buffer.alloc(n);
  c.set('a', v(500), 1, 'ha', 'x');
  c.set('b', v(500), 1, 'hb', 'x');
  t.equal(c.size, 2);
  c.get('a'); // a is now most recent
  c.set('c', v(500), 1, 'hc', 'x'); // over budget: evicts b (least recent)
  t.ok(c.get('a'));
  t.notOk(c.get('b'));
  t.ok(c.get('c'));
  t.ok(c.usedBytes <= 2000);
  c.set('huge', v(5000), 1, 'h', 'x');
  t.notOk(c.get('huge'), 'values over the entry cap are not cached');
  const e = c.set('a', v(10), 2, 'h2', 'text/plain');
  t.same([e.etag, e.versionText, c.get('a')?.version], ['"h2"', '2', 2]);
  c.delete('a');
  t.notOk(c.get('a'));
  c.clear();
  t.equal(c.size, 0);
  t.equal(c.usedBytes, 0);
});

t.test('eviction keeps LRU order through churn: refreshed keys survive, the oldest go first', async (t) => {
  // 10 entries of 100 bytes fit; cycle 30 keys through it while key `hot` is read every step.
  const c = new StateCache(10 * (100 + 3 + 200), 1000);
  const v = Buffer.alloc(100);
  c.set('hot', v, 1, 'h', 'x');
  for (let round = 0; round < 5; round++) {
    for (let i = 0; i < 30; i++) {
      const k = `k${String(i).padStart(2, '0')}`;
      if (!c.get(k)) c.set(k, v, 1, 'h', 'x');
      t.ok(c.get('hot'), 'the key read every step is never evicted') || t.bailout();
      t.ok(c.usedBytes <= 10 * 303, 'within budget');
    }
  }
  // The newest keys remain, the older ones went.
  t.ok(c.get('k29') && c.get('k28'), 'the most recent stay');
  t.notOk(c.get('k00'), 'the oldest went');
  c.clear();
  c.set('a', v, 1, 'h', 'x');
  t.ok(c.get('a'), 'usable after clear');
});

t.test("read fills: admitted while there is room, then at a key's second miss; writes always refresh", async (t) => {
  const entry = 100 + 6 + 200; // value + key length (all 6 here) + overhead
  const k = (p: string, i: number) => `${p}${String(i).padStart(5, '0')}`;
  const c = new StateCache(10 * entry, 1000);
  const v = Buffer.alloc(100);
  for (let i = 0; i < 10; i++) c.fill(k('k', i), v, 1, 'h', 'x');
  t.equal(c.size, 10, 'every fill goes in while the budget has room');
  // Full: keys read once never enter (nor evict anyone), and the value read is answered.
  const n = 8000;
  let wrong = 0;
  for (let i = 0; i < n; i++) {
    const e = c.fill(k('m', i), v, 7, 'hm', 'text/plain');
    if (e.versionText !== '7' || c.get(k('m', i)) !== undefined) wrong++;
  }
  t.equal(wrong, 0, 'each fill answered its value; none of 8,000 keys read once entered');
  t.equal(c.size, 10, 'nothing evicted');
  for (let i = 0; i < 10; i++) t.ok(c.get(k('k', i)), `${k('k', i)} still cached`);
  // A key read again soon after its miss gets in at its second miss.
  c.fill('hot000', v, 1, 'h', 'x');
  t.notOk(c.get('hot000'), 'not at its first miss');
  for (let i = 0; i < 20; i++) c.fill(k('o', i), v, 1, 'h', 'x');
  c.fill('hot000', v, 1, 'h', 'x');
  t.ok(c.get('hot000'), 'at its second, twenty misses of other keys later');
  t.equal(c.size, 10, 'in place of an entry evicted');
  t.ok(c.usedBytes <= 10 * entry, 'within budget');
  // Forgotten once many other misses went through its slot: a miss far apart counts as a first.
  c.fill('cold00', v, 1, 'h', 'x');
  for (let i = 0; i < 16 * DOORKEEPER_SLOTS; i++) c.fill(k('p', i), v, 1, 'h', 'x');
  c.fill('cold00', v, 1, 'h', 'x');
  t.notOk(c.get('cold00'), `a key missed again ${16 * DOORKEEPER_SLOTS} misses later is not let in`);
  // Uniform reads over many more keys than fit: about SLOTS / (N + SLOTS) of the misses get in.
  let admitted = 0;
  const keys = 50_000;
  let seed = 7;
  const draw = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % keys;
  for (let i = 0; i < 100_000; i++) {
    const key = k('u', draw());
    if (c.get(key) !== undefined) continue;
    c.fill(key, v, 1, 'h', 'x');
    if (c.get(key) !== undefined) admitted++;
  }
  t.ok(admitted < 100_000 * (3 * DOORKEEPER_SLOTS) / keys, `few of 100,000 uniform misses admitted (${admitted})`);
  t.ok(admitted > 0, 'but not none');
  // A write always replaces the entry, full or not.
  c.set('w00000', v, 3, 'hw', 'x');
  t.equal(c.get('w00000')?.version, 3, 'set enters a full cache');
  c.set('w00000', v, 4, 'hw4', 'x');
  t.equal(c.get('w00000')?.version, 4, 'and refreshes it');
});

t.test('second chance: with every entry read since the hand passed, the oldest goes after one round', async (t) => {
  const c = new StateCache(3 * (100 + 1 + 200), 1000);
  const v = Buffer.alloc(100);
  for (const k of ['a', 'b', 'c']) c.set(k, v, 1, 'h', 'x');
  for (const k of ['a', 'b', 'c']) c.get(k);
  c.set('d', v, 1, 'h', 'x');
  t.same(['a', 'b', 'c', 'd'].map((k) => c.get(k) !== undefined), [false, true, true, true], 'a went; b, c kept their chance; d is in');
  t.equal(c.size, 3);
  // An unread entry goes before an older read one.
  const f = new StateCache(3 * (100 + 1 + 200), 1000);
  for (const k of ['a', 'b', 'c']) f.set(k, v, 1, 'h', 'x');
  f.get('a');
  f.set('d', v, 1, 'h', 'x');
  t.same(['a', 'b', 'c', 'd'].map((k) => f.get(k) !== undefined), [true, false, true, true], 'b went, not a');
});

t.test('replies applied out of commit order: the cache keeps the newest revision, and a delete is not undone', async (t) => {
  const c = new StateCache(100_000);
  const v = (s: string) => Buffer.from(s);
  c.set('k', v('"P"'), 3, 'h3', 'application/json', 20);
  const kept = c.set('k', v('"T"'), 2, 'h2', 'application/json', 19);
  t.equal(kept.version, 3, 'an older write (revision 19 after 20) returns the entry it did not replace');
  t.equal(c.get('k')?.value.toString(), '"P"', 'and the newer value stays');
  t.equal(c.set('k', v('"Q"'), 4, 'h4', 'application/json', 21).version, 4, 'a newer one replaces it');

  c.delete('k', 30);
  t.notOk(c.get('k'), 'deleted at revision 30');
  c.set('k', v('"T"'), 5, 'h5', 'application/json', 29);
  t.notOk(c.get('k'), 'a write committed before the delete does not bring the key back');
  c.set('k', v('"N"'), 1, 'hn', 'application/json', 31);
  t.equal(c.get('k')?.value.toString(), '"N"', 'the key written again after its delete is cached');

  // Tombstones are bounded: the oldest go first.
  for (let i = 0; i < 5000; i++) c.delete(`gone/${i}`, 100 + i);
  c.set('gone/0', v('1'), 1, 'h', 'application/json', 50);
  t.ok(c.get('gone/0'), 'the oldest tombstone is gone past the bound');
  c.set('gone/4999', v('1'), 1, 'h', 'application/json', 50);
  t.notOk(c.get('gone/4999'), 'a recent one holds');
});
