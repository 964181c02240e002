import t from 'tap';
import { StateCache } from '../../src/domains/state/cache.js';

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
