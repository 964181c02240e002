import t from 'tap';
import { startTestServer, json } from '../helpers/server.js';

t.test('spec registry over HTTP', async (t) => {
  const s = await startTestServer(t);
  const u = (p: string) => `${s.url}${p}`;
  const put = (p: string, body: string, headers: Record<string, string> = {}) =>
    fetch(u(`/api/specs/${p}`), { method: 'PUT', body: Buffer.from(body) as unknown as BodyInit, headers });

  t.same(await json(await fetch(u('/api/specs/proj'))), { project: 'proj', specs: [] });
  const nf = await fetch(u('/api/specs/proj/api'));
  t.same([nf.status, await json(nf)], [404, { error: 'spec not found: proj/api', code: 404 }]);

  const p1 = await json(await put('proj/api', '{"kind":"contract"}'));
  t.same([p1.project, p1.name, p1.version], ['proj', 'api', 1]);
  t.match(p1.hash, /^[0-9a-f]{64}$/);
  t.match(p1.updated_at, /Z$/);
  const p2 = await json(await put('proj/api', 'not json at all'));
  t.equal(p2.version, 2, 'any bytes accepted, version +1');
  await put('proj/zeta', '{}');
  await put('other/x', '{}');

  const g = await fetch(u('/api/specs/proj/api'), { headers: {} });
  t.equal(g.headers.get('content-type'), 'application/json', 'always application/json');
  t.equal(g.headers.get('etag'), `"${p2.hash}"`);
  t.equal(g.headers.get('x-koor-version'), '2');
  t.equal(await g.text(), 'not json at all');
  const nm = await fetch(u('/api/specs/proj/api'), { headers: { 'if-none-match': `"${p2.hash}"` } });
  t.equal(nm.status, 304);

  const list = await json(await fetch(u('/api/specs/proj')));
  t.same(list.specs.map((x: any) => [x.name, x.version]), [['api', 2], ['zeta', 1]]);

  const empty = await put('proj/e', '');
  t.same([empty.status, await json(empty)], [400, { error: 'empty body', code: 400 }]);

  // CAS
  const stale = await put('proj/api', 'x', { 'if-match': `"${p1.hash}"` });
  t.same([stale.status, await json(stale)], [412, { error: 'precondition failed: current version 2', code: 412 }]);
  const fresh = await put('proj/api', 'x', { 'if-none-match': '*' });
  t.equal(fresh.status, 412);
  await fresh.arrayBuffer();
  const okCas = await put('proj/api', '{"v":3}', { 'if-match': `"${p2.hash}"` });
  t.equal((await json(okCas)).version, 3);
  const race = await Promise.all([1, 2, 3].map((i) => put('proj/new', `{"i":${i}}`, { 'if-none-match': '*' }).then((r) => r.status)));
  t.same(race.sort(), [200, 412, 412]);

  const d = await fetch(u('/api/specs/proj/api'), { method: 'DELETE' });
  t.match(await json(d), { deleted: 'proj/api', revision: Number });
  const d2 = await fetch(u('/api/specs/proj/api'), { method: 'DELETE' });
  t.same([d2.status, await json(d2)], [404, { error: 'spec not found: proj/api', code: 404 }]);
});
