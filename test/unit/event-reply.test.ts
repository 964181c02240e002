import t from 'tap';
import { Compile } from '../../schemas/typebox.js';
import { EVENT } from '../../schemas/db/tables/events.js';
import { EventReply } from '../../schemas/http/events.js';

/** The event reply as the record writes it: the text every subscriber, history page and publish reply gets. */

const ROWS = [
  { id: 1, topic: 'api.change', data: 'null', source: '', created_at: '2026-11-29 18:00:00' },
  { id: 42, topic: 'tâche.créée/ü', data: '{"k":"v\\u00e9","emoji":"🚀","n":[1,2.5,-3e10]}', source: 'agent "q"\n\t\\x', created_at: '2026-01-01 00:00:59' },
  { id: 9007199254740991, topic: '\u2028\u2029\u0000\u001f', data: '"\\ud83d\\ude80 \\"x\\""', source: '日本語 🚀 \ud83d', created_at: '2026-11-29T18:00:00Z' },
];

/** What the hand-built eventJson wrote for ROWS, before the record's writer replaced it. */
const TEXTS = [
  '{"id":1,"topic":"api.change","data":null,"source":"","created_at":"2026-11-29T18:00:00Z"}',
  '{"id":42,"topic":"tâche.créée/ü","data":{"k":"v\\u00e9","emoji":"🚀","n":[1,2.5,-3e10]},"source":"agent \\"q\\"\\n\\t\\\\x","created_at":"2026-01-01T00:00:59Z"}',
  '{"id":9007199254740991,"topic":"\u2028\u2029\\u0000\\u001f","data":"\\ud83d\\ude80 \\"x\\"","source":"日本語 🚀 \\ud83d","created_at":"2026-11-29T18:00:00Z"}',
];

t.test('the compiled writer gives the hand-built text, byte for byte (unicode, escapes, raw data, the largest id)', async (t) => {
  ROWS.forEach((e, i) => t.equal(EVENT.json(e), TEXTS[i], `event ${e.id}`));
});

t.test('the reply is what the API documents', async (t) => {
  const check = Compile(EventReply);
  for (const e of ROWS) t.ok(check.Check(JSON.parse(EVENT.json(e))), `event ${e.id}`);
  t.same(Object.keys(EventReply.properties), ['id', 'topic', 'data', 'source', 'created_at']);
});
