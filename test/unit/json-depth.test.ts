import t from 'tap';
import fc from 'fast-check';
import { jsonTooDeep, jsonTooDeepByScan } from '../../src/shared/json-depth.js';

t.test('jsonTooDeep: nesting past the limit, brackets in strings ignored', async (t) => {
  const nested = (n: number) => Buffer.from('['.repeat(n) + ']'.repeat(n));
  t.equal(jsonTooDeep(nested(4), 4), false, 'at the limit');
  t.equal(jsonTooDeep(nested(5), 4), true, 'one past it');
  t.equal(jsonTooDeep(Buffer.from('[[],[],[],[],[],[]]'), 4), false, 'many brackets, none deep');
  t.equal(jsonTooDeep(Buffer.from('["[[[[[[[[[["]'), 4), false, 'brackets inside a string');
  t.equal(jsonTooDeep(new Uint8Array(nested(5)), 4), true, 'a plain Uint8Array');
  const pooled = nested(5); // a slice of Buffer's pool: its ArrayBuffer holds other bytes too
  t.equal(jsonTooDeep(new Uint8Array(pooled.buffer, pooled.byteOffset + 1, pooled.length - 1), 4), false, 'a Uint8Array view at an offset: only its own bytes');
  t.equal(jsonTooDeep(new Uint8Array(pooled.buffer, pooled.byteOffset, pooled.length), 4), true, 'the same view from its start');
});

t.test('jsonTooDeep agrees with the byte scan (fast-check)', async (t) => {
  const text = fc.array(fc.constantFrom('{', '}', '[', ']', '"', '\\', 'a', ','), { maxLength: 60 }).map((a) => a.join(''));
  fc.assert(
    fc.property(text, fc.integer({ min: 0, max: 8 }), (s, max) => {
      const b = Buffer.from(s);
      return jsonTooDeep(b, max) === jsonTooDeepByScan(b, max);
    }),
    { numRuns: 3000 },
  );
  t.pass('3000 random texts');
});
