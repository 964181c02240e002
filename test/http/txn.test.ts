import t from 'tap';
import { startTestServer, json } from '../helpers/server.js';

/** Issue 31: POST /api/txn — compares and ops in one writer transaction, on both backends. */
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

  await t.test('a compare that fails runs the failure branch only', async (t) => {
    const b = await json(await txn({ compare: [{ key: 'tx/a', version: 7 }], success: [{ op: 'put', key: 'tx/a', value: 2 }], failure: [{ op: 'get', key: 'tx/a' }, { op: 'get', key: 'tx/none' }] }));
    t.equal(b.succeeded, false);
    t.match(b.results, [{ op: 'get', found: true, version: 1 }, { op: 'get', key: 'tx/none', found: false }]);
    t.same(await json(await fetch(u('/api/state/tx/a'))), { n: 1 }, 'the success branch did not run');
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
