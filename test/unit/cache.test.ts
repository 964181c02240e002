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
