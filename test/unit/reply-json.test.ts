import t from 'tap';
import { putReplyJson, txnReplyJson } from '../../src/domains/state/reply-json.js';

const enc = (s: string) => new Uint8Array(Buffer.from(s));
const HASH = 'ab'.repeat(32);

t.test('txnReplyJson: the reply POST /api/txn always sent, as text JSON.parse reads back the same', async (t) => {
  const at = Date.UTC(2026, 10, 27, 10, 0, 0, 123);
  const text = txnReplyJson({
    succeeded: false,
    revision: 42,
    results: [
      { op: 'get', key: 'k/json', found: true, version: 3, hash: HASH, value: enc('{ "n" : 1, "s": "é\\u00e9\\n" }'), content_type: 'application/json' },
      { op: 'get', key: 'k/text', found: true, version: 1, hash: HASH, value: enc('plain "quoted"\n'), content_type: 'text/plain' },
      { op: 'get', key: 'k/bad', found: true, version: 1, hash: HASH, value: enc('{not json'), content_type: 'application/vnd.x+json; charset=utf-8' },
      { op: 'get', key: 'k/none', found: false },
      { op: 'put', key: 'k/ttl', version: 2, hash: HASH, revision: 41, expires_at: at },
      { op: 'delete', key: 'k/gone', found: true, revision: 42 },
      { op: 'publish', id: 7, topic: 'ci/"x"', revision: 40 },
      { op: 'get', key: 'k/number', found: true, version: 1, hash: HASH, value: enc('1'), content_type: 'application/json' },
    ],
    current: [{ key: 'k/json', version: 3, hash: HASH }, { key: 'k/absent', version: 0 }],
  });
  t.ok(text.startsWith('{"succeeded":false,"revision":42,'), 'members in the reply schema\'s order');
  t.strictSame(JSON.parse(text), {
    succeeded: false,
    revision: 42,
    results: [
      { op: 'get', key: 'k/json', found: true, version: 3, hash: HASH, value: { n: 1, s: 'éé\n' }, content_type: 'application/json' },
      { op: 'get', key: 'k/text', found: true, version: 1, hash: HASH, value: 'plain "quoted"\n', content_type: 'text/plain' },
      { op: 'get', key: 'k/bad', found: true, version: 1, hash: HASH, value: '{not json', content_type: 'application/vnd.x+json; charset=utf-8' },
      { op: 'get', key: 'k/none', found: false },
      { op: 'put', key: 'k/ttl', version: 2, hash: HASH, revision: 41, expires_at: '2026-11-27T10:00:00.123Z' },
      { op: 'delete', key: 'k/gone', found: true, revision: 42 },
      { op: 'publish', id: 7, topic: 'ci/"x"', revision: 40 },
      { op: 'get', key: 'k/number', found: true, version: 1, hash: HASH, value: 1, content_type: 'application/json' },
    ],
    current: [{ key: 'k/json', version: 3, hash: HASH }, { key: 'k/absent', version: 0 }],
  });
  // A value JSON.parse reads is written back compact, as JSON.stringify writes it.
  t.match(text, /"value":\{"n":1,"s":"éé\\n"\}/);
  t.strictSame(JSON.parse(txnReplyJson({ succeeded: true, revision: 5, results: [] })), { succeeded: true, revision: 5, results: [] }, 'no current when none is given');
  // A replayed reply comes back from the idempotency table as JSON: its bytes as a Buffer's toJSON.
  const replayed = JSON.parse(JSON.stringify({ op: 'get', key: 'k', found: true, version: 1, hash: HASH, value: Buffer.from('{"n":2}'), content_type: 'application/json' }));
  t.strictSame(JSON.parse(txnReplyJson({ succeeded: false, revision: 1, results: [replayed] })).results[0].value, { n: 2 }, 'a replayed value');
});

t.test('putReplyJson: the text JSON.stringify wrote for the same reply, byte for byte', async (t) => {
  const base = { key: 'a/"quoted"/é\\', version: 12, hash: HASH, content_type: 'text/plain; charset="utf-8"', updated_at: '2026-11-27T10:00:00Z', revision: 9_007_199 };
  t.equal(putReplyJson(base), JSON.stringify(base), 'without an expiry');
  const ttl = { ...base, expires_at: '2026-11-27T10:00:30.500Z' };
  t.equal(putReplyJson(ttl), JSON.stringify(ttl), 'with one');
});
