import t from 'tap';
import { startTestServer, json } from '../helpers/server.js';

t.test('compare-and-set', async (t) => {
  const s = await startTestServer(t);
  const url = `${s.url}/api/state/cas`;
  const put = (body: string, headers: Record<string, string>) => fetch(url, { method: 'PUT', body, headers });

  await t.test('If-None-Match: * creates only when absent', async (t) => {
    const r1 = await put('a', { 'if-none-match': '*' });
    t.equal(r1.status, 200);
    const etag = r1.headers.get('etag');
    await r1.arrayBuffer();
    const r2 = await put('b', { 'if-none-match': '*' });
    t.equal(r2.status, 412);
    t.same(await json(r2), { error: 'precondition failed: current version 1', code: 412 });
    t.equal(r2.headers.get('etag'), etag);
    t.equal(r2.headers.get('x-koor-version'), '1');
    t.equal(await (await fetch(url)).text(), 'a');
  });

  await t.test('If-Match: "<hash>" succeeds on the current tag, fails on a stale one', async (t) => {
    const cur = await fetch(url);
    const etag = cur.headers.get('etag')!;
    await cur.arrayBuffer();
    const ok = await put('c', { 'if-match': etag });
    t.equal(ok.status, 200);
    t.equal((await json(ok)).version, 2);
    const stale = await put('d', { 'if-match': etag });
    t.equal(stale.status, 412);
    t.same(await json(stale), { error: 'precondition failed: current version 2', code: 412 });
    t.equal(await (await fetch(url)).text(), 'c');
  });

  await t.test('If-Match: * requires existence', async (t) => {
    const r = await fetch(`${s.url}/api/state/nope`, { method: 'PUT', body: 'x', headers: { 'if-match': '*' } });
    t.same([r.status, await json(r)], [412, { error: 'precondition failed: current version 0', code: 412 }]);
    t.equal((await fetch(`${s.url}/api/state/nope`)).status, 404);
  });

  await t.test('DELETE honours If-Match', async (t) => {
    const bad = await fetch(url, { method: 'DELETE', headers: { 'if-match': '"0000"' } });
    t.equal(bad.status, 412);
    await bad.arrayBuffer();
    const cur = await fetch(url);
    const etag = cur.headers.get('etag')!;
    await cur.arrayBuffer();
    const good = await fetch(url, { method: 'DELETE', headers: { 'if-match': etag } });
    t.match(await json(good), { deleted: 'cas', revision: Number });
  });

  await t.test('race: N clients CAS on one key at once → exactly one wins', async (t) => {
    const key = `${s.url}/api/state/race`;
    const first = await fetch(key, { method: 'PUT', body: '0' });
    const etag = first.headers.get('etag')!;
    await first.arrayBuffer();
    for (let round = 0; round < 5; round++) {
      const cur = await fetch(key);
      const tag = cur.headers.get('etag')!;
      await cur.arrayBuffer();
      const results = await Promise.all(
        Array.from({ length: 8 }, (_, i) => fetch(key, { method: 'PUT', body: `r${round}c${i}`, headers: { 'if-match': tag } }).then(async (r) => ({ status: r.status, body: await r.text() }))),
      );
      const wins = results.filter((r) => r.status === 200);
      t.equal(wins.length, 1, `round ${round}: one winner`);
      t.equal(results.filter((r) => r.status === 412).length, 7, `round ${round}: the rest get 412`);
    }
    t.not(etag, null);
    const two = await Promise.all(
      [1, 2].map(() => fetch(`${s.url}/api/state/fresh`, { method: 'PUT', body: 'x', headers: { 'if-none-match': '*' } }).then((r) => r.status)),
    );
    t.same(two.sort(), [200, 412], 'two creators: one wins');
  });
});
