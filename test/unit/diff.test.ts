import t from 'tap';
import { canonical, parseObject } from '../../workers/pool/diff.js';
import { parseLossless, stringifyLossless } from '../../workers/pool/lossless-json.js';
import { diff } from '../../workers/pool/main.js';

/** Runs the pool job on two JSON texts; returns the diffs as the reply text and parsed. */
function run(a: string, b: string) {
  const r = diff({ a: Buffer.from(a), b: Buffer.from(b), v1: 1, v2: 2 });
  if (!r.ok) throw new Error(r.error);
  return { text: r.diffs, value: JSON.parse(r.diffs) as unknown[] };
}

t.test('the documented example, in wire member order', async (t) => {
  const r = run('{"name":"A","age":30}', '{"name":"A","age":31,"city":"L"}');
  t.equal(r.text, '[{"path":"age","old":30,"new":31,"kind":"changed"},{"path":"city","new":"L","kind":"added"}]');
});

t.test('nesting, removal, arrays whole, null omitted, sorted names', async (t) => {
  const a = { z: 1, a: { b: { c: 1, d: [1, 2] } }, gone: 'x', n: 1, same: { k: [1, { x: 1, y: 2 }] } };
  const b = { z: 1, a: { b: { c: 2, d: [2, 1] } }, n: null, same: { k: [1, { y: 2, x: 1 }] }, m: { q: 1 } };
  t.same(run(JSON.stringify(a), JSON.stringify(b)).value, [
    { path: 'a.b.c', old: 1, new: 2, kind: 'changed' },
    { path: 'a.b.d', old: [1, 2], new: [2, 1], kind: 'changed' },
    { path: 'gone', old: 'x', kind: 'removed' },
    { path: 'm', new: { q: 1 }, kind: 'added' },
    { path: 'n', old: 1, kind: 'changed' },
  ]);
  t.same(run('{"o":{"x":1}}', '{"o":5}').value, [{ path: 'o', old: { x: 1 }, new: 5, kind: 'changed' }], 'object vs scalar changes whole');
  t.same(run('{}', '{}').value, []);
});

t.test('numbers: exact beyond 2^53, compared by value like Go (1.0 == 1)', async (t) => {
  t.equal(run('{"big":12345678901234567890}', '{"big":12345678901234567891}').text, '[{"path":"big","old":12345678901234567890,"new":12345678901234567891,"kind":"changed"}]');
  t.equal(run('{"big":12345678901234567890}', '{}').text, '[{"path":"big","old":12345678901234567890,"kind":"removed"}]', 'reported as stored');
  t.same(run('{"x":1.0,"y":[1e2]}', '{"x":1,"y":[100]}').value, [], 'same value, different spelling');
  t.same(run('{"x":0.1}', '{"x":0.10000000000000001}').value, [], 'same double');
});

t.test('canonical JSON sorts keys at every level', async (t) => {
  t.equal(canonical(parseLossless('{"b":1,"a":[{"d":1,"c":2}]}')), '{"a":[{"c":2,"d":1}],"b":1}');
});

t.test('lossless parse/stringify round trip and errors', async (t) => {
  const text = '{"a":[1,-2.5e-3,true,false,null,"s\\"qé"],"b":{"c":{}},"d":[]}';
  t.equal(stringifyLossless(parseLossless(text)), text);
  t.equal(stringifyLossless(parseLossless(' { "x" : 1 } ')), '{"x":1}');
  for (const bad of ['{', '{"a":}', '[1,]', '01', 'tru', '{"a":1}x', '"open', '']) t.throws(() => parseLossless(bad), SyntaxError, bad);
  t.equal(JSON.stringify(Object.keys(parseLossless('{"__proto__":1}') as object)), '["__proto__"]', '__proto__ is an own member, not a prototype');
});

t.test('non-objects are reported with the version number', async (t) => {
  t.same(parseObject(Buffer.from('[1]')), { ok: false, reason: 'expected a JSON object, got array' });
  t.equal(parseObject(Buffer.from('{bad')).ok, false);
  const r = diff({ a: Buffer.from('{"x":1}'), b: Buffer.from('"str"'), v1: 3, v2: 4 });
  t.same(r, { ok: false, error: 'version 4 is not a JSON object: expected a JSON object, got string' });
});
