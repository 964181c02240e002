import t from 'tap';
import { compactJson, parseFirstJson, rawMember, withMembers } from '../../src/raw-json.js';

t.test('rawMember returns the verbatim value text', async (t) => {
  t.equal(rawMember('{"topic":"a","data":{"x": 1.0, "big": 12345678901234567890}}', 'data'), '{"x": 1.0, "big": 12345678901234567890}');
  t.equal(rawMember('{"data": [1, {"a":"}"}] , "topic":"t"}', 'data'), '[1, {"a":"}"}]');
  t.equal(rawMember('{"data":"str\\"ing","x":1}', 'data'), '"str\\"ing"');
  t.equal(rawMember('{"data":null}', 'data'), 'null');
  t.equal(rawMember('{"data":-1.5e10}', 'data'), '-1.5e10');
  t.equal(rawMember('{"topic":"t"}', 'data'), undefined);
  t.equal(rawMember('{"data":1,"data":2}', 'data'), '2', 'last wins, as JSON.parse');
  t.equal(rawMember('{"\\u0064ata":true}', 'data'), 'true', 'escaped keys are decoded');
  t.equal(rawMember('[1,2]', 'data'), undefined);
  t.equal(rawMember(' \n{ "nested": {"data": 1}, "data" : false }', 'data'), 'false', 'only top-level members');
});

t.test('compactJson removes whitespace outside strings only', async (t) => {
  t.equal(compactJson('{ "a" : [ 1 , 2 ],\n "b": "x y" }'), '{"a":[1,2],"b":"x y"}');
  t.equal(compactJson('"a \\" b"'), '"a \\" b"');
  t.equal(compactJson('1.0'), '1.0');
});

t.test('parseFirstJson reads the first value and ignores the rest', async (t) => {
  const { parseFirstJson } = await import('../../src/raw-json.js');
  t.same(parseFirstJson(' {"topic":"a"} trailing'), { topic: 'a' });
  t.same(parseFirstJson('{"a":"}"}{"b":2}'), { a: '}' });
  t.equal(parseFirstJson('null'), null);
  t.same(parseFirstJson('[1,[2]] x'), [1, [2]]);
  for (const bad of ['', '   ', '{bad', '{"a":1', 'nul']) t.throws(() => parseFirstJson(bad), SyntaxError, JSON.stringify(bad));
});

t.test('strings ending in escaped backslashes, and whitespace runs, are told apart', (t) => {
  // "a\\" ends at its second quote: the backslash before it is itself escaped.
  t.equal(rawMember('{"data":"a\\\\","x":"b"}', 'data'), '"a\\\\"');
  t.equal(rawMember('{"data":"a\\\\\\"b","x":1}', 'data'), '"a\\\\\\"b"', 'three backslashes: the quote is escaped');
  t.equal(rawMember('{"x":"\\\\\\\\","data":[1, "]", {"y": "}"}]}', 'data'), '[1, "]", {"y": "}"}]');
  t.equal(compactJson('{ "a" :\n\t[ 1 ,  "x  y" ] ,"b\\\\" : "c \\" d" }'), '{"a":[1,"x  y"],"b\\\\":"c \\" d"}');
  t.equal(compactJson('{"a":"no change"}'), '{"a":"no change"}');
  t.same(parseFirstJson('{"a":1} {"b":2}'), { a: 1 }, 'only the first value is read');
  t.same(parseFirstJson('  [1,2]  '), [1, 2]);
  t.throws(() => parseFirstJson('   '));
  t.throws(() => parseFirstJson('{"a":'));
  t.end();
});

t.test('withMembers: members after an object\'s own, also after none', async (t) => {
  t.equal(withMembers('{"a":1}', '"b":[2],"c":null'), '{"a":1,"b":[2],"c":null}');
  t.equal(withMembers('{}', '"b":2'), '{"b":2}');
});
