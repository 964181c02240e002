import t from 'tap';
import { startTestServer, json } from '../helpers/server.js';

t.test('state store over HTTP', async (t) => {
  const s = await startTestServer(t);
  const u = (p: string) => `${s.url}${p}`;
  const put = (key: string, body: string | Buffer, headers: Record<string, string> = {}) =>
    fetch(u(`/api/state/${key}`), { method: 'PUT', body: (typeof body === 'string' ? Buffer.from(body) : body) as unknown as BodyInit, headers });

  await t.test('unknown key → 404 JSON; list empty is []', async (t) => {
    const r = await fetch(u('/api/state/missing'));
    t.equal(r.status, 404);
    t.match(r.headers.get('content-type'), /application\/json/);
    t.same(await json(r), { error: 'key not found: missing', code: 404 });
    const l = await fetch(u('/api/state'));
    t.equal(await l.text(), '[]\n');
  });

  await t.test('put / get / versions / headers; key with slashes; content type kept', async (t) => {
    const r1 = await put('proj/a/b', '{"name":"A","age":30}');
    t.equal(r1.status, 200);
    const b1 = await json(r1);
    t.equal(b1.key, 'proj/a/b');
    t.equal(b1.version, 1);
    t.match(b1.hash, /^[0-9a-f]{64}$/);
    t.equal(b1.content_type, 'application/json');
    t.match(b1.updated_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

    const r2 = await put('proj/a/b', '{"name":"A","age":31,"city":"L"}', { 'content-type': 'application/vnd.koor+json' });
    const b2 = await json(r2);
    t.equal(b2.version, 2);

    const g = await fetch(u('/api/state/proj/a/b'));
    t.equal(g.status, 200);
    t.equal(g.headers.get('etag'), `"${b2.hash}"`);
    t.equal(g.headers.get('x-koor-version'), '2');
    t.equal(g.headers.get('content-type'), 'application/vnd.koor+json');
    t.equal(await g.text(), '{"name":"A","age":31,"city":"L"}');

    // identical bytes still bump the version
    t.equal((await json(await put('proj/a/b', '{"name":"A","age":31,"city":"L"}', { 'content-type': 'application/vnd.koor+json' }))).version, 3);

    const list = await json(await fetch(u('/api/state')));
    t.same(list.map((e: any) => [e.key, e.version]), [['proj/a/b', 3]]);
    t.same(Object.keys(list[0]).sort(), ['content_type', 'key', 'updated_at', 'version']);
  });

  await t.test('any bytes round-trip exactly', async (t) => {
    const bin = Buffer.from([0, 1, 2, 255, 254, 10, 13, 0]);
    await put('bin', bin, { 'content-type': 'application/octet-stream' });
    const g = await fetch(u('/api/state/bin'));
    t.same(Buffer.from(await g.arrayBuffer()), bin);
    t.equal(g.headers.get('content-type'), 'application/octet-stream');
  });

  await t.test('url-encoded keys are decoded', async (t) => {
    await put('with%20space%2Fslash', 'x', { 'content-type': 'text/plain' });
    const list = await json(await fetch(u('/api/state')));
    t.ok(list.some((e: any) => e.key === 'with space/slash'));
    t.equal(await (await fetch(u('/api/state/with%20space%2Fslash'))).text(), 'x');
  });

  await t.test('If-None-Match → 304 with ETag only', async (t) => {
    const g = await fetch(u('/api/state/proj/a/b'));
    const etag = g.headers.get('etag')!;
    await g.arrayBuffer();
    const r = await fetch(u('/api/state/proj/a/b'), { headers: { 'if-none-match': etag } });
    t.equal(r.status, 304);
    t.equal(r.headers.get('etag'), etag);
    t.equal(await r.text(), '');
    const miss = await fetch(u('/api/state/proj/a/b'), { headers: { 'if-none-match': '"nope"' } });
    t.equal(miss.status, 200);
    await miss.arrayBuffer();
  });

  await t.test('empty body → 400', async (t) => {
    const r = await put('e', '');
    t.equal(r.status, 400);
    t.same(await json(r), { error: 'empty body', code: 400 });
    t.equal((await fetch(u('/api/state/e'))).status, 404);
  });

  await t.test('history, limit, version, bad version', async (t) => {
    const h = await json(await fetch(u('/api/state/proj/a/b?history=1')));
    t.equal(h.key, 'proj/a/b');
    t.same(h.versions.map((v: any) => v.version), [3, 2, 1]);
    t.same(Object.keys(h.versions[0]).sort(), ['content_type', 'hash', 'key', 'updated_at', 'updated_by', 'version']);
    const h1 = await json(await fetch(u('/api/state/proj/a/b?history=1&limit=1')));
    t.same(h1.versions.map((v: any) => v.version), [3]);
    for (const bad of ['-4', '0', 'abc', '1.5']) {
      const r = await fetch(u(`/api/state/proj/a/b?history=1&limit=${bad}`));
      t.same([r.status, await json(r)], [400, { error: 'limit must be a positive integer', code: 400 }], `limit=${bad} is refused, not replaced`);
    }
    const hNone = await json(await fetch(u('/api/state/nothing?history=1')));
    t.same(hNone, { key: 'nothing', versions: [] });

    const v1 = await fetch(u('/api/state/proj/a/b?version=1'));
    t.equal(v1.status, 200);
    t.equal(v1.headers.get('x-koor-version'), '1');
    t.equal(v1.headers.get('etag'), null);
    t.equal(v1.headers.get('content-type'), 'application/json');
    t.equal(await v1.text(), '{"name":"A","age":30}');
    const bad = await fetch(u('/api/state/proj/a/b?version=1.5'));
    t.same([bad.status, await json(bad)], [400, { error: 'version must be an integer', code: 400 }]);
    const nf = await fetch(u('/api/state/proj/a/b?version=9'));
    t.same([nf.status, await json(nf)], [404, { error: 'version 9 not found for key: proj/a/b', code: 404 }]);
  });

  await t.test('diff in the documented format and its errors', async (t) => {
    const d = await json(await fetch(u('/api/state/proj/a/b?diff=1,2')));
    t.same(d, {
      key: 'proj/a/b',
      v1: 1,
      v2: 2,
      diffs: [
        { path: 'age', old: 30, new: 31, kind: 'changed' },
        { path: 'city', new: 'L', kind: 'added' },
      ],
    });
    const cases: Array<[string, number, string]> = [
      ['diff=1', 400, 'diff requires two versions: ?diff=v1,v2'],
      ['diff=a,2', 400, 'diff versions must be integers'],
      ['diff=1,9', 400, 'get version 9: version 9 not found for key: proj/a/b'],
    ];
    for (const [q, status, msg] of cases) {
      const r = await fetch(u(`/api/state/proj/a/b?${q}`));
      t.same([r.status, await json(r)], [status, { error: msg, code: status }], q);
    }
    await put('arr', '[1,2]');
    await put('arr', '{"a":1}');
    const na = await json(await fetch(u('/api/state/arr?diff=1,2')));
    t.equal(na.code, 400);
    t.match(na.error, /^version 1 is not a JSON object: /);
  });

  await t.test('rollback', async (t) => {
    const r = await fetch(u('/api/state/proj/a/b?rollback=1'), { method: 'POST' });
    const b = await json(r);
    t.equal(r.status, 200);
    t.same([b.key, b.version, b.rolled_back], ['proj/a/b', 4, 1]);
    t.equal(await (await fetch(u('/api/state/proj/a/b'))).text(), '{"name":"A","age":30}');
    const h = await json(await fetch(u('/api/state/proj/a/b?history=1&limit=1')));
    t.equal(h.versions[0].updated_by, 'rollback:v1');
    const cases: Array<[string, number, string]> = [
      ['', 400, 'rollback requires ?rollback=<version>'],
      ['?rollback=x', 400, 'rollback version must be an integer'],
      ['?rollback=42', 404, 'version 42 not found for key: proj/a/b'],
    ];
    for (const [q, status, msg] of cases) {
      const res = await fetch(u(`/api/state/proj/a/b${q}`), { method: 'POST' });
      t.same([res.status, await json(res)], [status, { error: msg, code: status }], q || 'no query');
    }
    const missing = await fetch(u('/api/state/ghost?rollback=1'), { method: 'POST' });
    t.equal(missing.status, 404);
    await missing.arrayBuffer();
  });

  await t.test('delete removes key and its history; re-created key restarts at 1', async (t) => {
    const d = await fetch(u('/api/state/proj/a/b'), { method: 'DELETE' });
    t.match(await json(d), { deleted: 'proj/a/b', revision: Number });
    t.equal((await fetch(u('/api/state/proj/a/b'))).status, 404);
    const again = await fetch(u('/api/state/proj/a/b'), { method: 'DELETE' });
    t.same([again.status, await json(again)], [404, { error: 'key not found: proj/a/b', code: 404 }]);
    t.same((await json(await fetch(u('/api/state/proj/a/b?history=1')))).versions, []);
    const re = await json(await put('proj/a/b', '{"fresh":true}'));
    t.equal(re.version, 1);
    t.equal((await fetch(u('/api/state/proj/a/b?version=2'))).status, 404);
  });

  await t.test('more distinct content types than the reply keeps as bytes: each read back as stored', async (t) => {
    // src/http/reply.ts writes header texts as bytes from a table bounded at 256 entries;
    // past it they go as strings. 300 types, so both kinds are read back.
    const n = 300;
    let wrong = 0;
    for (let i = 0; i < n; i++) if ((await put(`ct/${i}`, `v${i}`, { 'content-type': `text/x-koor-${i}` })).status !== 200) wrong++;
    t.equal(wrong, 0, 'every put stored');
    for (let i = 0; i < n; i++) {
      const g = await fetch(u(`/api/state/ct/${i}`));
      if (g.headers.get('content-type') !== `text/x-koor-${i}` || (await g.text()) !== `v${i}`) wrong++;
    }
    t.equal(wrong, 0, 'every value with its own content type');
  });
});

t.test('diff over HTTP keeps big integers exact', async (t) => {
  const s = await startTestServer(t);
  const put = (body: string) => fetch(`${s.url}/api/state/big`, { method: 'PUT', body: Buffer.from(body) as unknown as BodyInit }).then((r) => r.text());
  await put('{"id":12345678901234567890}');
  await put('{"id":12345678901234567891}');
  const r = await fetch(`${s.url}/api/state/big?diff=1,2`);
  t.equal(await r.text(), '{"key":"big","v1":1,"v2":2,"diffs":[{"path":"id","old":12345678901234567890,"new":12345678901234567891,"kind":"changed"}]}\n');
});
