import t from 'tap';
import { metric, startTestServer } from './helpers/server.js';

/**
 * The front's SQLite reader maps the data file while its reads outnumber the writes it sees 100
 * to 1 (or the writes are few): a read after each commit would unmap the whole file
 * (src/backend/read-db.ts). Through a real server: a stream of writes with a read after each
 * stops the map, a second of reads with no write brings it back, and every read answers the same
 * either way.
 */

t.test('a stream of writes stops the reader mapping the data file; reads alone bring it back', async (t) => {
  const s = await startTestServer(t);
  const put = async (i: number) => {
    const r = await fetch(`${s.url}/api/state/map/k${i % 10}`, { method: 'PUT', body: JSON.stringify({ i }), headers: { 'content-type': 'application/json' } });
    if (r.status !== 200) throw new Error(`PUT: ${r.status} ${await r.text()}`);
  };
  // Past the cache: a version read reads SQLite (a current value is answered from memory).
  const history = async (i: number) => ((await (await fetch(`${s.url}/api/state/map/k${i % 10}?history=1&limit=1`)).json()) as { versions: Array<{ version: number }> }).versions[0]!.version;
  t.equal(await metric(s.url, 'koor_reader_mapped'), 1, 'mapped at the start');
  // At least 1.5 s of it; on a loaded machine (a window of fewer than 20 writes keeps the map) up to 8 s.
  const t0 = Date.now();
  let i = 0;
  let wrong = 0;
  let mapped = 1;
  for (; mapped === 1 && Date.now() - t0 < 8000 && i < 20_000; i++) {
    await put(i);
    if ((await history(i)) !== Math.floor(i / 10) + 1) wrong++;
    // The first read of the next window decides.
    if (i % 10 === 9 && Date.now() - t0 >= 1500) mapped = await metric(s.url, 'koor_reader_mapped');
  }
  t.equal(wrong, 0, 'each read after a write saw it');
  t.equal(mapped, 0, `not mapped after ${i} writes in ${((Date.now() - t0) / 1000).toFixed(1)} s with a read after each`);
  const switches = await metric(s.url, 'koor_reader_map_switches_total');
  t.ok(switches >= 1, 'a switch counted');
  const versions = await Promise.all(Array.from({ length: 10 }, (_, k) => history(k)));
  const reads = Date.now() + 1500;
  for (let n = 0; Date.now() < reads && n < 100_000; n++) if ((await history(n)) !== versions[n % 10]) wrong++;
  t.equal(wrong, 0, 'and the reads alone read the same');
  await history(0);
  t.equal(await metric(s.url, 'koor_reader_mapped'), 1, 'mapped again after reads with no write');
  t.ok((await metric(s.url, 'koor_reader_map_switches_total')) > switches, 'and another');
});
