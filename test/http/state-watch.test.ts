import t from 'tap';
import { startTestServer, json } from '../helpers/server.js';
import { watch, type Change } from '../helpers/ws.js';
import { waitUntil } from '../helpers/wait.js';

/** Revisions, prefix listing, watches, expiring and agent-bound keys. */
t.test('state revisions and watches', async (t) => {
  const s = await startTestServer(t);
  const u = (p: string) => `${s.url}${p}`;
  const put = (key: string, body: string, headers: Record<string, string> = {}) =>
    fetch(u(`/api/state/${key}`), { method: 'PUT', body: Buffer.from(body) as unknown as BodyInit, headers });

  await t.test('every write gets a store-wide, strictly increasing revision; reads carry it', async (t) => {
    const revs: number[] = [];
    for (const k of ['rev/a', 'rev/b', 'rev/a', 'rev/c']) {
      const r = await put(k, `{"k":"${k}"}`);
      const b = await json(r);
      t.equal(r.headers.get('x-koor-revision'), String(b.revision), 'the reply and its header agree');
      revs.push(b.revision);
    }
    const spec = await json(await fetch(u('/api/specs/revproj/api'), { method: 'PUT', body: Buffer.from('{}') as unknown as BodyInit }));
    revs.push(spec.revision);
    const del = await json(await fetch(u('/api/state/rev/b'), { method: 'DELETE' }));
    revs.push(del.revision);
    const rolled = await fetch(u('/api/state/rev/c?rollback=1'), { method: 'POST' });
    const rb = await json(rolled);
    t.equal(rolled.headers.get('x-koor-revision'), String(rb.revision), 'a rollback is a write with its own revision');
    revs.push(rb.revision);
    for (let i = 1; i < revs.length; i++) t.ok(revs[i]! > revs[i - 1]!, `revision ${i} (${revs[i]}) after ${revs[i - 1]}`);
    const g = await fetch(u('/api/state/rev/a'));
    t.equal(g.headers.get('x-koor-revision'), String(revs[2]), 'a GET says the revision of the key\'s last write');
    const gs = await fetch(u('/api/specs/revproj/api'));
    t.equal(gs.headers.get('x-koor-revision'), String(spec.revision));
    const ls = await fetch(u('/api/specs/revproj'));
    t.equal(ls.headers.get('x-koor-revision'), String(revs.at(-1)), 'a project\'s spec listing says the newest revision');
    const l = await fetch(u('/api/state?prefix=rev/'));
    t.equal(l.headers.get('x-koor-revision'), String(revs.at(-1)), 'a listing says the newest revision');
  });

  await t.test('a key named `watch` is still a key: only an upgrade reaches the watch route', async (t) => {
    t.equal((await put('watch', '{"mine":1}')).status, 200);
    const g = await fetch(u('/api/state/watch'));
    t.same([g.status, await g.text()], [200, '{"mine":1}'], 'a plain GET reads the key');
    t.equal((await fetch(u('/api/state/watch'), { method: 'DELETE' })).status, 200);
  });

  await t.test('prefix listing: only keys under the prefix, paged', async (t) => {
    for (const k of ['pl/x/1', 'pl/x/2', 'pl/x/3', 'pl/y/1', 'pl/x']) await put(k, '1');
    const all = await json(await fetch(u('/api/state?prefix=pl/x/')));
    t.same(all.map((e: { key: string }) => e.key), ['pl/x/1', 'pl/x/2', 'pl/x/3']);
    const p1 = await fetch(u('/api/state?prefix=pl/x/&limit=2'));
    t.same((await json(p1)).map((e: { key: string }) => e.key), ['pl/x/1', 'pl/x/2']);
    const link = p1.headers.get('link')!;
    t.match(link, /prefix=pl%2Fx%2F/);
    const next = link.slice(1, link.indexOf('>'));
    t.same((await json(await fetch(u(next)))).map((e: { key: string }) => e.key), ['pl/x/3']);
    t.same(await json(await fetch(u('/api/state?prefix=nothing-here/'))), []);
  });

  await t.test('a watcher of a/ sees puts and deletes of a/ in revision order, never b/', async (t) => {
    const w = await watch(s.url, '/api/state/watch?prefix=wa/');
    t.teardown(() => w.ws.close());
    const r1 = await json(await put('wa/1', '{"v":1}', { 'content-type': 'application/json' }));
    await put('wb/1', '{"v":1}');
    const r2 = await json(await put('wa/2', '{"v":2}'));
    const d = await json(await fetch(u('/api/state/wa/1'), { method: 'DELETE' }));
    await w.waitFor(3);
    t.same(
      w.changes.map((c) => [c.type, c.key, c.version, c.revision]),
      [
        ['put', 'wa/1', 1, r1.revision],
        ['put', 'wa/2', 1, r2.revision],
        ['delete', 'wa/1', 1, d.revision],
      ],
    );
    t.equal(w.changes[0]!.hash, r1.hash);
    t.equal(w.changes[0]!.content_type, 'application/json');
    // Nothing of wb/ arrived since (one more wa/ write comes after it, in order).
    await put('wb/2', '1');
    const r3 = await json(await put('wa/3', '1'));
    await w.waitFor(4);
    t.equal(w.changes.length, 4);
    t.equal(w.changes[3]!.revision, r3.revision);
  });

  await t.test('resume after a forced disconnect: no gap, no duplicate', async (t) => {
    const first = await watch(s.url, '/api/state/watch?prefix=res/');
    const seen: Change[] = [];
    const writes: number[] = [];
    for (let i = 0; i < 5; i++) writes.push((await json(await put(`res/${i % 2}`, String(i)))).revision);
    await first.waitFor(3);
    seen.push(...first.changes.slice(0, 3));
    first.ws.terminate();
    await first.closed;
    // Written while nobody watches.
    for (let i = 5; i < 10; i++) writes.push((await json(await put(`res/${i % 2}`, String(i)))).revision);
    const again = await watch(s.url, `/api/state/watch?prefix=res/&since_revision=${seen.at(-1)!.revision}`);
    t.teardown(() => again.ws.close());
    for (let i = 10; i < 12; i++) writes.push((await json(await put(`res/${i % 2}`, String(i)))).revision);
    await again.waitFor(writes.length - 3);
    seen.push(...again.changes);
    t.same(seen.map((c) => c.revision), writes, 'every write once, in order');
  });

  await t.test('since_revision older than what is retained, or malformed', async (t) => {
    await t.rejects(watch(s.url, '/api/state/watch?since_revision=-1'), { status: 400 }, 'a malformed revision is refused at the upgrade');
    await t.rejects(watch(s.url, '/api/specs/watch'), { status: 400 }, 'a specs watch names its project');
    // Far ahead of the newest: live from now, nothing muted.
    const ahead = await watch(s.url, '/api/state/watch?prefix=ahead/&since_revision=999999999');
    t.teardown(() => ahead.ws.close());
    const w = await json(await put('ahead/k', '1'));
    await ahead.waitFor(1);
    t.equal(ahead.changes[0]!.revision, w.revision);
  });

  await t.test('since_revision older than the retained changes: X-Koor-Oldest-Revision, then what is left', async (t) => {
    const revs: number[] = [];
    for (let i = 0; i < 6; i++) revs.push((await json(await put(`old/${i}`, String(i)))).revision);
    // Keep only the newest 3 changes of the whole store (the retention job's step, run now).
    await s.writer.call('state.prune_changes', { keep: 3, chunk: 100 });
    t.equal((await fetch(u('/api/state/old/5'))).headers.get('x-koor-revision'), String(revs[5]));
    const w = await watch(s.url, `/api/state/watch?prefix=old/&since_revision=${revs[0]}`);
    t.teardown(() => w.ws.close());
    t.equal(w.headers['x-koor-oldest-revision'], String(revs[3]), 'the oldest change kept');
    await w.waitFor(3);
    t.same(w.changes.map((c) => c.revision), revs.slice(3), 'then every change kept after it');
    const fresh = await watch(s.url, `/api/state/watch?prefix=old/&since_revision=${revs[3]}`);
    t.teardown(() => fresh.ws.close());
    t.equal(fresh.headers['x-koor-oldest-revision'], undefined, 'nothing missing: no header');
  });

  await t.test('TTL: a read after expiry is 404 at once; the sweep deletes it with an expire change', async (t) => {
    const w = await watch(s.url, '/api/state/watch?prefix=ttl/');
    t.teardown(() => w.ws.close());
    const r = await put('ttl/k', '1', { 'x-koor-ttl': '300ms' });
    t.equal(r.status, 200);
    t.equal((await fetch(u('/api/state/ttl/k'))).status, 200, 'there before its TTL');
    await waitUntil('the key to read as gone', async () => (await fetch(u('/api/state/ttl/k'))).status === 404);
    t.notOk((await json(await fetch(u('/api/state?prefix=ttl/')))).some((e: { key: string }) => e.key === 'ttl/k'), 'nor listed');
    await w.waitFor(2);
    t.same(w.changes.map((c) => [c.type, c.key]), [['put', 'ttl/k'], ['expire', 'ttl/k']]);
    // ?ttl= works too; a write without a TTL clears it.
    const q = await json(await put('ttl/q?ttl=200ms', '1'));
    t.ok(Date.parse(q.expires_at) > Date.now() - 1000, `?ttl= sets an expiry (${q.expires_at})`);
    await put('ttl/r?ttl=200ms', '1');
    const cleared = await json(await put('ttl/r', '2'));
    t.equal(cleared.expires_at, undefined, 'a write without a TTL has no expiry');
    await waitUntil('?ttl= to expire its key', async () => (await fetch(u('/api/state/ttl/q'))).status === 404);
    await new Promise((r) => setTimeout(r, Math.max(0, Date.parse(q.expires_at) + 300 - Date.now())));
    t.equal((await fetch(u('/api/state/ttl/r'))).status, 200, 'the key whose TTL was cleared is still there');
    const a = await json(await put('ttl/keep', '1', { 'x-koor-ttl': '60s' }));
    t.equal(a.version, 1);
    const inMs = Date.parse(a.expires_at) - Date.now();
    t.ok(inMs > 50_000 && inMs <= 60_000, `the reply says when it expires (in ${inMs} ms)`);
    const bad = await put('ttl/x', '1', { 'x-koor-ttl': 'soon' });
    t.equal(bad.status, 400);
    t.match((await json(bad)).error, /invalid ttl "soon"/);
  });

  await t.test('a key re-written after its TTL starts over at version 1', async (t) => {
    await put('ttl2/k', '1', { 'x-koor-ttl': '100ms' });
    await waitUntil('expiry', async () => (await fetch(u('/api/state/ttl2/k'))).status === 404);
    const r = await put('ttl2/k', '2', { 'if-none-match': '*' });
    t.equal(r.status, 200, 'If-None-Match: * holds: the key is gone');
    t.equal((await json(r)).version, 1);
  });

  await t.test('ephemeral keys go with their agent', async (t) => {
    const reg = await json(await fetch(u('/api/instances/register'), { method: 'POST', body: Buffer.from(JSON.stringify({ name: 'builder', workspace: '/w' })) as unknown as BodyInit }));
    const as = { 'x-koor-instance': reg.instance_id ?? reg.id };
    const w = await watch(s.url, '/api/state/watch?prefix=eph/');
    t.teardown(() => w.ws.close());
    const r = await put('eph/building', '"yes"', { ...as, 'x-koor-ephemeral': 'true' });
    t.equal(r.status, 200);
    await put('eph/stays', '1', as);
    const anon = await put('eph/anon', '1', { 'x-koor-ephemeral': 'true' });
    t.equal(anon.status, 400, 'an ephemeral key needs an agent');
    const dereg = await fetch(u(`/api/instances/${as['x-koor-instance']}`), { method: 'DELETE' });
    t.equal(dereg.status, 200);
    t.equal((await fetch(u('/api/state/eph/building'))).status, 404, 'gone with its agent');
    t.equal((await fetch(u('/api/state/eph/stays'))).status, 200, 'a plain key stays');
    await w.waitFor(3);
    t.same(w.changes.map((c) => [c.type, c.key]), [['put', 'eph/building'], ['put', 'eph/stays'], ['expire', 'eph/building']]);
  });

  await t.test('values=1: frames carry the value (JSON as JSON, text as a string, a large one omitted), live and replayed', async (t) => {
    const before = await json(await put('val/a', '{"n":1}'));
    const w = await watch(s.url, `/api/state/watch?prefix=val/&values=1&since_revision=${before.revision - 1}`);
    t.teardown(() => w.ws.close());
    await put('val/t', 'plain', { 'content-type': 'text/plain' });
    await put('val/big', JSON.stringify('x'.repeat(70 * 1024)));
    // A value is read when the change is sent: a version deleted by then has none (val/d's put may come without it).
    await put('val/d', '1');
    await fetch(u('/api/state/val/d'), { method: 'DELETE' });
    await w.waitFor(5);
    const got = w.changes as Array<Change & { value?: unknown; value_omitted?: string }>;
    t.same(got.slice(0, 3).map((c) => [c.type, c.key, c.value]), [['put', 'val/a', { n: 1 }], ['put', 'val/t', 'plain'], ['put', 'val/big', undefined]]);
    t.same([got[4]!.type, got[4]!.key, got[4]!.value], ['delete', 'val/d', undefined]);
    t.equal(got[2]!.value_omitted, 'too large');
    const plain = await watch(s.url, `/api/state/watch?prefix=val/&since_revision=${before.revision - 1}`);
    t.teardown(() => plain.ws.close());
    await plain.waitFor(1);
    t.notOk('value' in plain.changes[0]!, 'without values=1, no value');
    await t.rejects(watch(s.url, '/api/state/watch?values=yes'), { status: 400 });
  });

  await t.test('specs watch: a project\'s specs only', async (t) => {
    const w = await watch(s.url, '/api/specs/watch?project=wp');
    t.teardown(() => w.ws.close());
    const a = await json(await fetch(u('/api/specs/wp/api'), { method: 'PUT', body: Buffer.from('{"a":1}') as unknown as BodyInit }));
    await fetch(u('/api/specs/wpx/api'), { method: 'PUT', body: Buffer.from('{}') as unknown as BodyInit });
    const d = await json(await fetch(u('/api/specs/wp/api'), { method: 'DELETE' }));
    await w.waitFor(2);
    t.same(w.changes.map((c) => [c.type, c.project, c.name, c.revision]), [['put', 'wp', 'api', a.revision], ['delete', 'wp', 'api', d.revision]]);
  });
});

t.test('TTL: a read after expiry is 404 while the writer, which runs the sweep, is held up', async (t) => {
  const s = await startTestServer(t, {}, { oneNode: "one node's writer held up: no other node's sweep may run" });
  const u = (p: string) => `${s.url}${p}`;
  const w = await watch(s.url, '/api/state/watch?prefix=held/');
  t.teardown(() => w.ws.close());
  const sent = Date.now();
  const body = await json(await fetch(u('/api/state/held/k'), { method: 'PUT', body: Buffer.from('1') as unknown as BodyInit, headers: { 'x-koor-ttl': '1s' } }));
  const expiresAt = Date.parse(body.expires_at);
  t.ok(expiresAt >= sent + 1000 && expiresAt <= Date.now() + 1000, 'expires_at is the write\'s time + its TTL');
  t.equal((await fetch(u('/api/state/held/k'))).status, 200, 'there before its TTL (and cached, on SQLite)');
  let asleep = true;
  const held = s.writer.call('sys.sleep', { ms: 4000 }).finally(() => (asleep = false));
  await new Promise((r) => setTimeout(r, Math.max(0, expiresAt + 50 - Date.now())));
  t.equal((await fetch(u('/api/state/held/k'))).status, 404, 'gone once its TTL passed');
  t.notOk((await json(await fetch(u('/api/state?prefix=held/')))).some((e: { key: string }) => e.key === 'held/k'), 'nor listed');
  t.ok(asleep, 'read while the writer was still held up: no sweep had run');
  t.equal(w.changes.length, 1, 'no expire change yet');
  await held;
  await w.waitFor(2);
  t.same(w.changes.map((c) => [c.type, c.key]), [['put', 'held/k'], ['expire', 'held/k']], 'the sweep deletes it once the writer is back');
});

t.test('a slow watcher is bounded: closed with 4008 and its last revision; it resumes from there', async (t) => {
  const s = await startTestServer(t, { wsBufferEvents: 16, wsBufferBytes: 64 * 1024 }, { oneNode: "a watcher's socket and the feed of its node" });
  const value = JSON.stringify('x'.repeat(8 * 1024));
  const stalled = await watch(s.url, '/api/state/watch?prefix=slow/&values=1');
  stalled.ws.pause(); // stops reading: the kernel buffers, then the server's, fill up
  // Bounded: at most 4000 changes of ~8 KiB (~32 MiB) — far more than loopback buffers and the 64 KiB budget hold.
  let n = 0;
  while (n < 4000 && s.stateFeed.valuesHub.stats.closed_slow === 0) {
    await Promise.all(Array.from({ length: 50 }, (_, j) => fetch(`${s.url}/api/state/slow/k${(n + j) % 100}`, { method: 'PUT', body: Buffer.from(value) as unknown as BodyInit })));
    n += 50;
  }
  t.equal(s.stateFeed.valuesHub.stats.closed_slow, 1, `closed after ${n} changes`);
  stalled.ws.resume();
  const close = await stalled.closed;
  t.equal(close.code, 4008);
  const m = /^slow consumer: last delivered id (\d+)$/.exec(close.reason);
  t.ok(m, `the close names the last revision (${close.reason})`);
  const last = Number(m![1]);
  const received = stalled.changes.map((c) => c.revision);
  t.ok(received.length > 0 && received.at(-1)! <= last, 'what arrived ends at or before it');
  const again = await watch(s.url, `/api/state/watch?prefix=slow/&since_revision=${last}`);
  t.teardown(() => again.ws.close());
  await again.waitFor(1);
  t.equal(again.changes[0]!.revision, last + 1, 'the resume picks up right after it');
});
