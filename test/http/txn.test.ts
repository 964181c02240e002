import t from 'tap';
import { startTestServer, json, summedMetric } from '../helpers/server.js';

/** POST /api/txn — compares and ops in one writer transaction, on both backends. */
t.test('transactions', async (t) => {
  const s = await startTestServer(t);
  const u = (p: string) => `${s.url}${p}`;
  const txn = (body: unknown, headers: Record<string, string> = {}) => fetch(u('/api/txn'), { method: 'POST', body: Buffer.from(JSON.stringify(body)) as unknown as BodyInit, headers });

  await t.test('success branch: puts, a get that sees them, a delete and a publish, one revision order', async (t) => {
    await fetch(u('/api/state/tx/old'), { method: 'PUT', body: Buffer.from('"bye"') as unknown as BodyInit });
    const r = await txn({
      compare: [{ key: 'tx/a', exists: false }, { key: 'tx/old', version: 1 }],
      success: [
        { op: 'put', key: 'tx/a', value: { n: 1 } },
        { op: 'put', key: 'tx/b', value: 'plain text', content_type: 'text/plain' },
        { op: 'get', key: 'tx/a' },
        { op: 'delete', key: 'tx/old' },
        { op: 'publish', topic: 'tx.done', data: { ok: true } },
      ],
      failure: [{ op: 'get', key: 'tx/a' }],
    });
    t.equal(r.status, 200);
    const b = await json(r);
    t.equal(b.succeeded, true);
    t.same(b.results.map((x: { op: string }) => x.op), ['put', 'put', 'get', 'delete', 'publish']);
    t.match(b.results[2], { key: 'tx/a', found: true, version: 1, value: { n: 1 } });
    t.ok(b.results[1].revision > b.results[0].revision && b.results[3].revision > b.results[1].revision, 'revisions in op order');
    t.equal(b.revision, b.results[3].revision, 'the reply\'s revision is its last change');
    t.equal(await (await fetch(u('/api/state/tx/b'))).text(), 'plain text');
    t.equal((await fetch(u('/api/state/tx/old'))).status, 404);
    const ev = await json(await fetch(u('/api/events/history?topic=tx.done')));
    t.match(ev, [{ topic: 'tx.done', data: { ok: true } }], 'the publish is in the log');
  });

  await t.test('a transaction and a PUT or DELETE of its key answered together: reads see the newest acknowledged', async (t) => {
    // Sent at once on two connections, the transaction first: one writer batch usually answers
    // both, the transaction's reply first. Its caller resumed later than the PUT's and cached its
    // older value over the newer one (a deleted key came back), until the key was written again.
    let raced = 0;
    for (let i = 0; i < 60; i++) {
      const key = `tx/race/${i}`;
      await fetch(u(`/api/state/${key}`), { method: 'PUT', body: Buffer.from('"a"') as unknown as BodyInit });
      const del = i % 2 === 1;
      const [tr, wr] = await Promise.all([
        txn({ compare: [{ key, version: 1 }], success: [{ op: 'put', key, value: 'T' }] }),
        fetch(u(`/api/state/${key}`), del ? { method: 'DELETE' } : { method: 'PUT', body: Buffer.from('"P"') as unknown as BodyInit }),
      ]);
      const tb = await json(tr);
      const wb = await json(wr);
      if (!tb.succeeded || !(wb.revision > tb.results[0].revision)) continue; // the plain write went first: nothing to check
      raced++;
      const g = await fetch(u(`/api/state/${key}`));
      if (del) t.equal(g.status, 404, `${key}: deleted after the transaction's put`);
      else t.equal(`${g.headers.get('x-koor-version')} ${await g.text()}`, `${wb.version} "P"`, `${key}: the PUT's value, after the transaction's`);
      if (!del) t.equal((await json(await txn({ compare: [{ key, version: wb.version }], success: [{ op: 'put', key, value: 'X' }] }))).succeeded, true, `${key}: a compare on the acknowledged version holds`);
      else await g.arrayBuffer();
    }
    t.ok(raced > 0, `the transaction committed first in ${raced} of 60 tries`);
  });

  await t.test('a compare that fails runs the failure branch only', async (t) => {
    const b = await json(await txn({ compare: [{ key: 'tx/a', version: 7 }], success: [{ op: 'put', key: 'tx/a', value: 2 }], failure: [{ op: 'get', key: 'tx/a' }, { op: 'get', key: 'tx/none' }] }));
    t.equal(b.succeeded, false);
    t.match(b.results, [{ op: 'get', found: true, version: 1 }, { op: 'get', key: 'tx/none', found: false }]);
    t.same(await json(await fetch(u('/api/state/tx/a'))), { n: 1 }, 'the success branch did not run');
  });

  await t.test('a lost compare says where each compared key is, and one whose failure branch only reads skips the writer', async (t) => {
    const a = await json(await fetch(u('/api/state/tx/a?history=1')));
    const hash = a.versions[0].hash;
    const lost = { compare: [{ key: 'tx/a', version: 7 }, { key: 'tx/none', exists: true }, { key: 'tx/a', exists: true }], success: [{ op: 'put', key: 'tx/a', value: 2 }], failure: [{ op: 'get', key: 'tx/a' }] };
    const b = await json(await txn(lost));
    t.match(b, { succeeded: false, results: [{ op: 'get', key: 'tx/a', found: true, version: 1, hash, value: { n: 1 } }] });
    t.same(b.current, [{ key: 'tx/a', version: 1, hash }, { key: 'tx/none', version: 0 }], 'every compared key once, absent as version 0');
    const newest = Number((await fetch(u('/api/state?prefix=tx/'))).headers.get('x-koor-revision'));
    t.equal(b.revision, newest, 'the newest revision');
    const calls = () => summedMetric(s.nodeUrls, (m) => m.writer.calls);
    const before = await calls();
    for (let i = 0; i < 20; i++) t.equal((await json(await txn(lost))).succeeded, false);
    t.ok((await calls()) - before < 20, `20 lost compares with a read-only failure branch: ${(await calls()) - before} writer calls (background jobs included)`);
    // A change no reply told the front of (a key expiring, swept by the writer) is in the revision too.
    const revisionNow = async () => Number((await fetch(u('/api/state?prefix=tx/'))).headers.get('x-koor-revision'));
    const beforeExpiry = await revisionNow();
    await fetch(u('/api/state/tx/brief'), { method: 'PUT', body: Buffer.from('1') as unknown as BodyInit, headers: { 'x-koor-ttl': '50ms' } });
    const until = Date.now() + 10_000;
    while ((await revisionNow()) < beforeExpiry + 2 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    const swept = await revisionNow();
    t.equal(swept, beforeExpiry + 2, 'the key was written, then swept with its expire change');
    t.equal((await json(await txn(lost))).revision, swept, 'a lost compare after the sweep says its revision');
    // A failure branch that writes goes through the writer, and says where the keys are too.
    const w = await json(await txn({ compare: [{ key: 'tx/a', version: 7 }], failure: [{ op: 'put', key: 'tx/lost', value: 1 }] }));
    t.match(w, { succeeded: false, results: [{ op: 'put', key: 'tx/lost', version: 1 }], current: [{ key: 'tx/a', version: 1, hash }] });
    // A won compare has no `current`.
    const won = await json(await txn({ compare: [{ key: 'tx/lost', version: 1 }], success: [{ op: 'get', key: 'tx/lost' }] }));
    t.equal(won.succeeded, true);
    t.equal(won.current, undefined);
    // With an Idempotency-Key the writer records it: a retry replays the first answer.
    const idem = { 'idempotency-key': 'tx-lost-1' };
    const first = await txn(lost, idem);
    const again = await txn(lost, idem);
    t.same(await json(again), await json(first));
    t.equal(again.headers.get('idempotent-replayed'), 'true');
  });

  await t.test("a lost compare's reply follows every change of what it shows, and of what it was asked", async (t) => {
    // The front answers alike losers with one reply (StateService.lostReply): never one made of other keys, values or revision.
    const put = (key: string, body: string) => fetch(u(`/api/state/${key}`), { method: 'PUT', body, headers: { 'content-type': 'application/json' } });
    const lose = async (compare: string[], gets: string[]) => json(await txn({ compare: compare.map((key) => ({ key, version: 99 })), success: [{ op: 'put', key: compare[0], value: 0 }], failure: gets.map((key) => ({ op: 'get', key })) }));
    await put('tx/m', '{"v":1}');
    const first = await lose(['tx/m'], ['tx/m']);
    t.match(first, { succeeded: false, results: [{ key: 'tx/m', version: 1, value: { v: 1 } }], current: [{ key: 'tx/m', version: 1 }] });
    t.same(await lose(['tx/m'], ['tx/m']), first, 'the same loser again: the same reply');
    t.match(await lose(['tx/m'], ['tx/other']), { results: [{ key: 'tx/other', found: false }], current: [{ key: 'tx/m', version: 1 }] }, 'other reads: their own results');
    t.same((await lose(['tx/m', 'tx/other'], ['tx/m'])).current, [{ key: 'tx/m', version: 1, hash: first.current[0].hash }, { key: 'tx/other', version: 0 }], 'other compares: their own current');
    await put('tx/m', '{"v":2}');
    const second = await lose(['tx/m'], ['tx/m']);
    t.match(second, { results: [{ key: 'tx/m', version: 2, value: { v: 2 } }], current: [{ key: 'tx/m', version: 2 }] }, 'the key written again: its new value');
    t.ok(second.revision > first.revision);
    await put('tx/elsewhere', '1');
    const third = await lose(['tx/m'], ['tx/m']);
    t.equal(third.revision, second.revision + 1, 'another key written: the newest revision');
    t.same(third.results, second.results);
    await fetch(u('/api/state/tx/m'), { method: 'DELETE' });
    t.match(await lose(['tx/m'], ['tx/m']), { results: [{ key: 'tx/m', found: false }], current: [{ key: 'tx/m', version: 0 }] }, 'the key deleted: absent');
    // Past its TTL a key is absent at once, though the revision moves only when the sweep (each second) deletes it.
    const t0 = Date.now();
    await fetch(u('/api/state/tx/brief2'), { method: 'PUT', body: '1', headers: { 'content-type': 'application/json', 'x-koor-ttl': '300ms' } });
    t.match(await lose(['tx/brief2'], ['tx/brief2']), { results: [{ found: true, value: 1 }] });
    await new Promise((r) => setTimeout(r, Math.max(0, t0 + 350 - Date.now())));
    t.match(await lose(['tx/brief2'], ['tx/brief2']), { results: [{ key: 'tx/brief2', found: false }], current: [{ key: 'tx/brief2', version: 0 }] }, 'the key expired: absent');
  });

  await t.test('a bad op refuses the whole transaction: nothing applied', async (t) => {
    const r = await txn({ success: [{ op: 'put', key: 'tx/partial', value: 1 }, { op: 'rename', key: 'tx/a' }] });
    t.equal(r.status, 400);
    t.same(await json(r), { error: 'success[1]: unknown op: rename', code: 400 });
    t.equal((await fetch(u('/api/state/tx/partial'))).status, 404);
    const many = await txn({ success: Array.from({ length: 65 }, (_, i) => ({ op: 'get', key: `k${i}` })) });
    t.equal(many.status, 400);
    t.same(await json(many), { error: 'a transaction has at most 64 compares and ops: 65', code: 400 });
    const noField = await txn({ compare: [{ key: 'tx/a' }], success: [] });
    t.equal(noField.status, 400);
    t.match((await json(noField)).error, /compare\[0\]: needs version, hash or exists/);
    const noValue = await txn({ success: [{ op: 'put', key: 'tx/x' }] });
    t.match(await json(noValue), { error: 'success[0]: a put needs a value', code: 400 });
  });

  await t.test('a put with a ttl expires; an empty ttl is none; a bad one names its op', async (t) => {
    const r = await json(await txn({ success: [{ op: 'put', key: 'tx/ttl', value: 1, ttl: '300ms' }, { op: 'put', key: 'tx/keep', value: 2, ttl: '' }] }));
    t.equal(r.succeeded, true);
    t.match(r.results[0].expires_at, /^\d{4}-\d\d-\d\dT/, 'the expiry in RFC 3339');
    t.equal(r.results[1].expires_at, undefined, 'an empty ttl: no expiry');
    t.equal((await fetch(u('/api/state/tx/ttl'))).status, 200);
    const until = Date.now() + 10_000;
    while ((await fetch(u('/api/state/tx/ttl'))).status !== 404 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    t.equal((await fetch(u('/api/state/tx/ttl'))).status, 404, 'gone after its ttl');
    t.equal((await fetch(u('/api/state/tx/keep'))).status, 200);
    const bad = await txn({ compare: [{ key: 'tx/keep', version: 9 }], failure: [{ op: 'get', key: 'tx/keep' }, { op: 'put', key: 'tx/keep', value: 3, ttl: 'soon' }] });
    t.equal(bad.status, 400);
    t.same(await json(bad), { error: 'failure[1]: invalid ttl "soon": expected a duration like 500ms, 60s, 5m', code: 400 });
    const noKey = await txn({ compare: [{ key: 'tx/keep', version: 9 }], failure: [{ op: 'get' }] });
    t.same(await json(noKey), { error: 'failure[0]: key is required', code: 400 });
  });

  await t.test('an op refused inside the writer after others ran undoes them all (an outdated fence)', async (t) => {
    const reg = await json(await fetch(u('/api/instances/register'), { method: 'POST', body: Buffer.from('{"name":"holder"}') as unknown as BodyInit }));
    const as = { 'x-koor-instance': reg.id };
    const lease = await json(await fetch(u('/api/leases'), { method: 'POST', body: Buffer.from('{"resources":["fz/**"]}') as unknown as BodyInit, headers: as }));
    t.ok(lease.fence > 0);
    await fetch(u('/api/state/fz0/gone'), { method: 'PUT', body: Buffer.from('"here"') as unknown as BodyInit });
    // The key that expired above is deleted by the expiry sweep (once a second, taking a revision):
    // the newest revision is read once the sweep has left it alone for longer than that.
    const revision = async () => (await fetch(u('/api/state?prefix=fz'))).headers.get('x-koor-revision');
    let newest = await revision();
    for (let i = 0; i < 10; i++) {
      await new Promise((r) => setTimeout(r, 1_200));
      const now = await revision();
      if (now === newest) break;
      newest = now;
    }
    // Three ops pass (a put, a delete, a publish: all applied in the writer's transaction), then the fourth is refused there.
    const r = await txn({
      success: [
        { op: 'put', key: 'fz0/a', value: 1 },
        { op: 'delete', key: 'fz0/gone' },
        { op: 'publish', topic: 'fz.undone', data: 1 },
        { op: 'put', key: 'fz/out', value: 2, fence: lease.fence - 1 },
      ],
    });
    t.same([r.status, (await json(r)).error], [409, `fence ${lease.fence - 1} is outdated for key fz/out: the current fence is ${lease.fence}`]);
    t.equal((await fetch(u('/api/state/fz0/a'))).status, 404, 'the put before it was undone');
    t.equal(await (await fetch(u('/api/state/fz0/gone'))).text(), '"here"', 'so was the delete');
    t.same(await json(await fetch(u('/api/events/history?topic=fz.undone'))), [], 'and the publish');
    t.equal((await fetch(u('/api/state?prefix=fz'))).headers.get('x-koor-revision'), newest, 'no revision was taken');
    // Nor does a lost compare answered without the writer say one was (on SQLite the writer
    // publishes the newest revision it committed: the refused op's savepoint gave back two).
    const lostAfter = await json(await txn({ compare: [{ key: 'fz0/gone', version: 99 }], success: [{ op: 'put', key: 'fz0/gone', value: 1 }], failure: [{ op: 'get', key: 'fz0/gone' }] }));
    t.same([lostAfter.succeeded, String(lostAfter.revision)], [false, newest], 'a lost compare says the newest revision, not one given back');
    // X-Koor-Fence applies to every put and delete of the request; the holder's own fence passes.
    const stale = await txn({ success: [{ op: 'delete', key: 'fz/out' }] }, { 'x-koor-fence': String(lease.fence - 1) });
    t.equal(stale.status, 409, 'a delete with an outdated fence from the header');
    const ok = await json(await txn({ success: [{ op: 'put', key: 'fz/out', value: 3 }, { op: 'delete', key: 'fz0/gone' }] }, { 'x-koor-fence': String(lease.fence) }));
    t.match(ok, { succeeded: true, results: [{ op: 'put', version: 1 }, { op: 'delete', found: true }] });
    t.match(await json(await txn({ success: [{ op: 'put', key: 'fz/out', value: 4, fence: -1 }] })), { code: 400 }, 'a negative fence is a 400');
  });

  await t.test('contended compare-and-set: one transaction per version goes to the writer, the others wait for it and lose at once', async (t) => {
    // All through one node: the gate is each node's own (in cluster mode others' transactions are decided by the writer alone).
    const one = s.nodeUrls[0]!;
    const hot = (body: unknown) => fetch(`${one}/api/txn`, { method: 'POST', body: Buffer.from(JSON.stringify(body)) as unknown as BodyInit });
    await fetch(`${one}/api/state/tx/hot`, { method: 'PUT', body: Buffer.from('0') as unknown as BodyInit });
    const calls = () => summedMetric(s.nodeUrls, (m) => m.writer.calls);
    const before = await calls();
    let successes = 0;
    let attempts = 0;
    const client = async () => {
      const g = await fetch(`${one}/api/state/tx/hot`);
      let cur = { value: Number(await g.text()), version: Number(g.headers.get('x-koor-version')) };
      // Three increments each, bounded in attempts; a lost compare's reply carries the current value.
      for (let won = 0, i = 0; won < 3 && i < 200; i++) {
        attempts++;
        const r = await json(await hot({ compare: [{ key: 'tx/hot', version: cur.version }], success: [{ op: 'put', key: 'tx/hot', value: cur.value + 1 }], failure: [{ op: 'get', key: 'tx/hot' }] }));
        if (r.succeeded) {
          successes++;
          won++;
          cur = { value: cur.value + 1, version: r.results[0].version };
        } else cur = { value: r.results[0].value, version: r.current[0].version };
      }
    };
    await Promise.all(Array.from({ length: 16 }, client));
    const writes = (await calls()) - before;
    t.equal(successes, 48, `every client won its 3 increments (${attempts} attempts)`);
    t.equal(await json(await fetch(u('/api/state/tx/hot'))), 48, 'no lost update');
    t.ok(writes <= 2 * successes + 20, `${writes} writer calls for ${successes} successes in ${attempts} attempts (background jobs included)`);
  });

  await t.test('race: 50 clients increment one counter through compare-and-put; no lost update', async (t) => {
    await fetch(u('/api/state/tx/counter'), { method: 'PUT', body: Buffer.from('0') as unknown as BodyInit });
    let successes = 0;
    let attempts = 0;
    const client = async () => {
      // Each client retries its one increment until it wins, bounded in attempts.
      for (let i = 0; i < 60; i++) {
        attempts++;
        const g = await json(await txn({ success: [{ op: 'get', key: 'tx/counter' }] }));
        const cur = g.results[0];
        const r = await json(await txn({ compare: [{ key: 'tx/counter', version: cur.version }], success: [{ op: 'put', key: 'tx/counter', value: cur.value + 1 }] }));
        if (r.succeeded) {
          successes++;
          return;
        }
      }
    };
    await Promise.all(Array.from({ length: 50 }, client));
    const final = await json(await fetch(u('/api/state/tx/counter')));
    t.ok(successes > 0, `${successes} of ${attempts} increments won`);
    t.equal(final, successes, 'the counter counts exactly the successful increments');
  });
});
