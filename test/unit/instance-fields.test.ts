import t from 'tap';
import { checkFields, clipUtf8 } from '../../src/domains/instances/fields.js';

t.test('clipUtf8 cuts at a character boundary, within the bytes', async (t) => {
  t.equal(clipUtf8('shop', 10), 'shop', 'short text as it is');
  t.equal(clipUtf8('ü'.repeat(10), 7), 'ü'.repeat(3), 'never half a two-byte character');
  t.equal(clipUtf8('a😀b', 4), 'a', 'nor half of a surrogate pair (4 bytes)');
  t.equal(clipUtf8('a😀b', 5), 'a😀');
  t.equal(clipUtf8('x', 0), '');
});

t.test('checkFields names the field and its size', async (t) => {
  t.doesNotThrow(() => checkFields({ name: 'é'.repeat(100), capabilities: [] }), '200 bytes is within');
  t.throws(() => checkFields({ name: 'é'.repeat(101) }), { message: 'name too long: 202 bytes (max 200)' });
  t.throws(() => checkFields({ intent: 'i'.repeat(1001) }), { message: 'intent too long: 1001 bytes (max 1000)' });
  t.throws(() => checkFields({ capabilities: Array.from({ length: 65 }, () => 'c') }), { message: 'too many capabilities: 65 (max 64)' });
});
