import t from 'tap';
import { decodeChunked, formatBody, keyPath, parseArgs, ParseError, parseReply, query, reindentJson, type AnyCommandDef } from '../../cli/core.js';
import { splitJsonArray } from '../../cli/subscriber.js';

t.test('reindentJson: same as JSON.stringify(…, 2) where JS would not change the text', async (t) => {
  const samples = [
    '{}',
    '[]',
    '{"a":1,"b":[1,2,{"c":null}],"d":{},"e":[],"f":"x,y:{z}[","g":"esc \\" \\\\ \\n"}',
    ' [ 1 , { "k" : true } , [ ] ] ',
    '"just a string"',
    '42',
  ];
  for (const s of samples) {
    t.equal(reindentJson(s, 2), JSON.stringify(JSON.parse(s), null, 2), s);
    t.equal(reindentJson(s, 0), JSON.stringify(JSON.parse(s)), `compact ${s}`);
  }
});

t.test('reindentJson keeps member order and number spelling that JSON.parse would lose', async (t) => {
  t.equal(reindentJson('{"b":1,"2":2,"a":1.50,"n":12345678901234567890,"e":1e3}', 0), '{"b":1,"2":2,"a":1.50,"n":12345678901234567890,"e":1e3}');
  t.equal(reindentJson('{"b":1,"2":2}', 2), '{\n  "b": 1,\n  "2": 2\n}');
});

t.test('formatBody: only JSON content types, only valid JSON, only with --pretty', async (t) => {
  const body = Buffer.from('{"a":1}');
  t.equal(formatBody(body, 'application/json', true), '{\n  "a": 1\n}\n');
  t.equal(formatBody(body, 'application/vnd.koor+json; charset=utf-8', true), '{\n  "a": 1\n}\n');
  t.equal(formatBody(body, 'application/json', false), body);
  t.equal(formatBody(body, 'text/plain', true), body);
  const broken = Buffer.from('{"a":');
  t.equal(formatBody(broken, 'application/json', true), broken);
  t.equal(formatBody(Buffer.alloc(0), 'application/json', true).length, 0);
});

t.test('splitJsonArray returns the raw element texts', async (t) => {
  t.same(splitJsonArray('[]'), []);
  t.same(splitJsonArray('[]\n'), []);
  t.same(splitJsonArray('[{"id":1,"data":{"a":[1,"]"]}},{"id":2,"data":"},{"}]\n'), ['{"id":1,"data":{"a":[1,"]"]}}', '{"id":2,"data":"},{"}']);
  t.same(splitJsonArray('[ 1 , "x" , [2] , null ]'), ['1', '"x"', '[2]', 'null']);
  t.same(splitJsonArray('[{"id":1,"n":12345678901234567890}]'), ['{"id":1,"n":12345678901234567890}']);
});

t.test('query and keyPath encode', async (t) => {
  t.equal(query({}), '');
  t.equal(query({ a: undefined }), '');
  t.equal(query({ topic: 'api.*', last: 5, from: '2026-01-01T00:00:00+01:00', x: 'a&b=c d' }), '?topic=api.*&last=5&from=2026-01-01T00%3A00%3A00%2B01%3A00&x=a%26b%3Dc%20d');
  t.equal(keyPath('a/b c/d?e#f%'), 'a/b%20c/d%3Fe%23f%25');
});

t.test('parseArgs (the fast path parser)', async (t) => {
  const def: AnyCommandDef = {
    description: '',
    positionals: [{ name: 'key' }, { name: 'extra', optional: true }],
    options: { limit: { description: '' }, all: { description: '', boolean: true }, must: { description: '', required: true } },
    run: async () => 0,
  };
  t.same(parseArgs(def, ['k', '--must', 'm']), { pos: { key: 'k', extra: undefined }, opt: { must: 'm', all: false }, ignored: [] });
  t.same(parseArgs(def, ['--all', '--must=x', 'k', 'e', '--limit', '1', '--limit', '2']).opt, { all: true, must: 'x', limit: '2' });
  t.same(parseArgs(def, ['k', '--must', 'm', '--what', 'ever', '--flag']).ignored, ['--what', 'ever', '--flag']);
  t.same(parseArgs(def, ['k', '--must', 'm', '--what', '-5']).pos, { key: 'k', extra: '-5' }, 'a value starting with - is not eaten by an unknown flag');
  t.same(parseArgs(def, ['--must', 'm', '--', '--k']).pos, { key: '--k', extra: undefined });
  const refuses = (args: string[], message: string) => {
    try {
      parseArgs(def, args);
      t.fail(`accepted ${args.join(' ')}`);
    } catch (e) {
      t.ok(e instanceof ParseError, args.join(' '));
      t.equal((e as Error).message, message);
    }
  };
  refuses(['--must', 'm'], 'missing <key>');
  refuses(['k'], 'missing --must');
  refuses(['k', '--must'], '--must needs a value');
  refuses(['a', 'b', 'c', '--must', 'm'], 'unexpected argument: c');
  refuses(['k', '--must', 'm', '--all=1'], '--all takes no value');
});

t.test('HTTP reply parsing: Content-Length, chunked, until close, incomplete, malformed', async (t) => {
  const head = (h: string) => Buffer.from(`HTTP/1.1 200 OK\r\n${h}\r\n\r\n`);
  const cl = Buffer.concat([head('Content-Type: application/json\r\nContent-Length: 7\r\nX-A: 1\r\nx-a: 2'), Buffer.from('{"a":1}')]);
  const r = parseReply(cl, false)!;
  t.same([r.status, r.headers['content-type'], r.headers['x-a'], r.body.toString()], [200, 'application/json', '1, 2', '{"a":1}']);
  t.equal(parseReply(cl.subarray(0, cl.length - 1), false), null, 'one byte short: wait');
  t.throws(() => parseReply(cl.subarray(0, cl.length - 1), true), /connection closed mid-reply/);
  t.equal(parseReply(cl.subarray(0, 10), false), null, 'head incomplete: wait');

  const chunked = Buffer.concat([head('Transfer-Encoding: chunked'), Buffer.from('3\r\nabc\r\n10;ext=1\r\n0123456789abcdef\r\n0\r\n\r\n')]);
  t.equal(parseReply(chunked, false)!.body.toString(), 'abc0123456789abcdef');
  t.equal(parseReply(chunked.subarray(0, chunked.length - 3), false), null);
  t.equal(decodeChunked(Buffer.from('3\r\nab')), null);
  t.throws(() => decodeChunked(Buffer.from('zz\r\n')), /malformed chunked body/);

  const untilClose = Buffer.concat([head('Content-Type: text/plain'), Buffer.from('rest of stream')]);
  t.equal(parseReply(untilClose, false), null, 'no length: wait for the close');
  t.equal(parseReply(untilClose, true)!.body.toString(), 'rest of stream');

  const notModified = Buffer.from('HTTP/1.1 304 Not Modified\r\nETag: "x"\r\nContent-Length: 10\r\n\r\n');
  t.same([parseReply(notModified, false)!.status, parseReply(notModified, false)!.body.length], [304, 0]);
  t.throws(() => parseReply(Buffer.from('garbage\r\n\r\n'), false), /malformed HTTP response/);
  t.throws(() => parseReply(Buffer.alloc(0), true), /connection closed without a reply/);
});
