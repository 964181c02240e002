import t from 'tap';
import { canonical, diffObjects, parseObject } from '../../workers/pool/diff.js';
import { diff } from '../../workers/pool/main.js';

t.test('SPEC §2.2 example', async (t) => {
  t.same(diffObjects({ name: 'A', age: 30 }, { name: 'A', age: 31, city: 'L' }), [
    { path: 'age', old: 30, new: 31, kind: 'changed' },
    { path: 'city', new: 'L', kind: 'added' },
  ]);
});

t.test('nesting, removal, arrays whole, null omitted, sorted names', async (t) => {
  const a = { z: 1, a: { b: { c: 1, d: [1, 2] } }, gone: 'x', n: 1, same: { k: [1, { x: 1, y: 2 }] } };
  const b = { z: 1, a: { b: { c: 2, d: [2, 1] } }, n: null, same: { k: [1, { y: 2, x: 1 }] }, m: { q: 1 } };
  t.same(diffObjects(a, b), [
    { path: 'a.b.c', old: 1, new: 2, kind: 'changed' },
    { path: 'a.b.d', old: [1, 2], new: [2, 1], kind: 'changed' },
    { path: 'gone', old: 'x', kind: 'removed' },
    { path: 'm', new: { q: 1 }, kind: 'added' },
    { path: 'n', old: 1, kind: 'changed' },
  ]);
  t.same(Object.keys(diffObjects({ a: 1 }, { a: 2 })[0]!), ['path', 'old', 'new', 'kind'], 'member order');
  t.same(diffObjects({ o: { x: 1 } }, { o: 5 }), [{ path: 'o', old: { x: 1 }, new: 5, kind: 'changed' }], 'object vs scalar changes whole');
  t.same(diffObjects({}, {}), []);
});

t.test('canonical JSON sorts keys at every level', async (t) => {
  t.equal(canonical({ b: 1, a: [{ d: 1, c: 2 }] }), '{"a":[{"c":2,"d":1}],"b":1}');
});

t.test('non-objects are reported with the version number', async (t) => {
  t.same(parseObject(Buffer.from('[1]')), { ok: false, reason: 'expected a JSON object, got array' });
  t.equal(parseObject(Buffer.from('{bad')).ok, false);
  const r = diff({ a: Buffer.from('{"x":1}'), b: Buffer.from('"str"'), v1: 3, v2: 4 });
  t.same(r, { ok: false, error: 'version 4 is not a JSON object: expected a JSON object, got string' });
});
