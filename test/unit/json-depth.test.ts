import t from 'tap';
import fc from 'fast-check';
import { jsonTooDeep } from '../../src/shared/limits.js';

/** The plain byte scan jsonTooDeep answers with when its bracket count cannot decide. */
function reference(bytes: Uint8Array, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i]!;
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) return true;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return false;
}

t.test('jsonTooDeep: nesting past the limit, brackets in strings ignored', async (t) => {
  const nested = (n: number) => Buffer.from('['.repeat(n) + ']'.repeat(n));
  t.equal(jsonTooDeep(nested(4), 4), false, 'at the limit');
  t.equal(jsonTooDeep(nested(5), 4), true, 'one past it');
  t.equal(jsonTooDeep(Buffer.from('[[],[],[],[],[],[]]'), 4), false, 'many brackets, none deep');
  t.equal(jsonTooDeep(Buffer.from('["[[[[[[[[[["]'), 4), false, 'brackets inside a string');
  t.equal(jsonTooDeep(new Uint8Array(nested(5)), 4), true, 'a plain Uint8Array');
  t.equal(jsonTooDeep(nested(5).subarray(1), 4), false, 'a view at an offset: only its own bytes');
});

t.test('jsonTooDeep agrees with the byte scan (fast-check)', async (t) => {
  const text = fc.array(fc.constantFrom('{', '}', '[', ']', '"', '\\', 'a', ','), { maxLength: 60 }).map((a) => a.join(''));
  fc.assert(
    fc.property(text, fc.integer({ min: 0, max: 8 }), (s, max) => {
      const b = Buffer.from(s);
      return jsonTooDeep(b, max) === reference(b, max);
    }),
    { numRuns: 3000 },
  );
  t.pass('3000 random texts');
});
