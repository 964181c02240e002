import t from 'tap';
import { uuidv7 } from '../../src/shared/uuid7.js';

const V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

t.test('a version 7 UUID: the time in its first 48 bits, the version and variant set, the rest random', async (t) => {
  const ms = Date.UTC(2026, 11, 3, 7, 30, 0, 123);
  const id = uuidv7(ms);
  t.match(id, V7);
  t.equal(parseInt(id.slice(0, 8) + id.slice(9, 13), 16), ms, 'the time it was given, to the ms');
  t.match(uuidv7(0), /^00000000-0000-7/, 'the epoch');
  t.equal(parseInt(uuidv7(2 ** 48 - 1).replace(/-/g, '').slice(0, 12), 16), 2 ** 48 - 1, 'the largest time it holds');

  // Past the pool of random bytes drawn ahead (128 ids a fill): all distinct, all well formed.
  const ids = Array.from({ length: 1000 }, () => uuidv7(ms));
  t.equal(new Set(ids).size, ids.length, 'no two alike in the same ms');
  t.ok(ids.every((x) => V7.test(x) && x.startsWith(id.slice(0, 13))), 'every one of them version 7, of that ms');
  // The random part is random: each of its hex digits takes many values over the ids.
  for (const i of [15, 20, 30, 35]) t.ok(new Set(ids.map((x) => x[i])).size >= 8, `digit ${i} varies`);
});

t.test('ids of later times sort after earlier ones (what keeps an index of them appending)', async (t) => {
  const base = Date.now();
  const ids = [0, 1, 2, 255, 256, 65_535, 65_536, 3_600_000].map((d) => uuidv7(base + d));
  t.same([...ids].sort(), ids);
  t.ok(uuidv7() > uuidv7(base - 1000), 'now after a second ago');
});
