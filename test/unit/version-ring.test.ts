import t from 'tap';
import { keepsRings, ringCount, ringIdOf, ringIds, ringPush, toRing } from '../../src/shared/version-ring.js';
import { VERSION_RING_MAX } from '../../src/shared/limits-features.js';

t.test('a ring holds ids in order, small or large, rising or not, in a few bytes each', async (t) => {
  const cases = [[], [1], [1, 2, 3], [5, 1005, 2005, 3004], [2 ** 40, 2 ** 40 + 7, 2 ** 48 - 1], [10, 3, 9_000_000, 8_999_999]];
  for (const ids of cases) {
    const ring = toRing(ids);
    t.same(ringIds(ring), ids, `round trip: ${ids.join(', ')}`);
    t.equal(ringCount(ring), ids.length);
  }
  // A key among a thousand written in turn: ids 1,000 apart, 2 bytes each.
  const spaced = Array.from({ length: 100 }, (_, i) => 1_000_000 + i * 1000);
  t.ok(toRing(spaced).length <= 4 + 99 * 2, `100 versions 1,000 ids apart: ${toRing(spaced).length} bytes`);
});

t.test('a write appends its row and drops the oldest past keep, at most two a write', async (t) => {
  let ring: Uint8Array | null = null;
  const dropped: number[] = [];
  for (let id = 1; id <= 7; id++) {
    const next = ringPush(ring, id, 3);
    ring = next.ring;
    dropped.push(...next.dropped);
  }
  t.same(ringIds(ring!), [5, 6, 7], 'the newest three');
  t.same(dropped, [1, 2, 3, 4], 'each dropped once, oldest first');
  // A keep lowered from 6 to 2: a write drops two, the retention pass the rest.
  const long = toRing([1, 2, 3, 4, 5, 6]);
  const next = ringPush(long, 7, 2);
  t.same(next.dropped, [1, 2]);
  t.same(ringIds(next.ring), [3, 4, 5, 6, 7]);
});

t.test("a version's id: by its place from the current version; none outside the ring", async (t) => {
  const ids = ringIds(toRing([11, 22, 33])); // versions 8, 9, 10
  t.equal(ringIdOf(ids, 10, 10), 33);
  t.equal(ringIdOf(ids, 10, 8), 11);
  t.equal(ringIdOf(ids, 10, 7), undefined, 'dropped');
  t.equal(ringIdOf(ids, 10, 11), undefined, 'not yet written');
});

t.test('rings for a keep of 1 to VERSION_RING_MAX; 0 (every version) and more keep the index', async (t) => {
  t.notOk(keepsRings(0));
  t.ok(keepsRings(1));
  t.ok(keepsRings(VERSION_RING_MAX));
  t.notOk(keepsRings(VERSION_RING_MAX + 1));
});

t.test('a write on any ring gives what decoding, appending, dropping and encoding would', async (t) => {
  let seed = 7;
  const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
  for (let round = 0; round < 500; round++) {
    const len = rand(12);
    const ids: number[] = [];
    let at = 1 + rand(2 ** 20);
    for (let i = 0; i < len; i++) ids.push((at += rand(3) === 0 ? -rand(50) : 1 + rand(100_000)));
    const keep = 1 + rand(14);
    const id = at + 1 + rand(1000);
    const all = [...ids, id];
    const drop = Math.min(Math.max(0, all.length - keep), 2);
    const got = ringPush(ids.length === 0 ? null : toRing(ids), id, keep);
    t.same({ ids: ringIds(got.ring), dropped: got.dropped }, { ids: all.slice(drop), dropped: all.slice(0, drop) }, `keep ${keep} over ${ids.length}`);
  }
});
