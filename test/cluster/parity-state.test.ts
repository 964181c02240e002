import t from 'tap';
import { filePostgres } from '../helpers/postgres.js';
import { checkParity, type Scenario } from '../helpers/parity.js';

/** Cluster mode: the state and event-log writer methods answer and store alike on both backends. */

const started = await filePostgres();
if ('skipped' in started) {
  t.skip(`writer parity (state, events): ${started.skipped}`);
} else {
  const pg = started;
  t.teardown(() => pg.stop());
  const bytes = (s: string) => Buffer.from(s);

  const check = (t: Tap.Test, name: string, scenario: Scenario, opts: { stateHistoryKeep?: number } = {}) => checkParity(t, pg, name, scenario, opts);

  t.test('state: versions, CAS, delete, rollback, audit', async (t) => {
    const run = await check(t, 'state', async (call, _batch, read) => {
      const put = (key: string, v: string, extra: Record<string, string> = {}) => call('state.put', { key, value: bytes(v), content_type: 'application/json', updated_by: 'a', ...extra }, { audit: { actor: 'agent-1' } });
      await put('k', '{"a":1}');
      const second = await put('k', '{"a":2}');
      await put('k', '{"a":3}', { if_match: '"nope"' });
      await put('k', '{"a":3}', { if_match: `"${(second as { res: { hash: string } }).res.hash}"` });
      await put('k', '{"a":4}', { if_none_match: '*' });
      await put('new', '1', { if_none_match: '*' });
      await put('new2', '1', { if_match: '*' });
      await call('state.rollback', { key: 'k', version: 1 }, { audit: { actor: 'agent-1' } });
      await call('state.rollback', { key: 'k', version: 99 });
      await call('state.delete', { key: 'new' }, { audit: { actor: 'agent-2' } });
      await call('state.delete', { key: 'new' });
      await call('state.delete', { key: 'k', if_match: '"stale"' });
      await call('state.put', { key: '', value: bytes('x'), content_type: 'text/plain', updated_by: '' });
      for (const key of ['b', 'a/1', 'a/2', 'Z', 'é', 'a b']) await put(key, `"${key}"`);
      await read((r) => r.state.listPage('', 3));
      await read((r) => r.state.listPage('a/2', 3));
      await read((r) => r.state.listPage('é', 3));
      await read((r) => r.state.current('k'));
      await read((r) => r.state.current('missing'));
      await read((r) => r.state.atVersion('k', 1));
      await read((r) => r.state.atVersion('k', 5));
      await read((r) => r.state.atVersion('k', 99));
      await read((r) => r.state.history('k', 50));
      await read((r) => r.state.history('k', 2));
      await read((r) => r.state.count());
    });
    t.ok(run.transcript.length >= 12 && run.tables.state!.length === 7 && run.tables.audit_log!.length >= 5, 'the scenario did something');
  });

  t.test('state: history retention by writes and by prune turns', async (t) => {
    await check(
      t,
      'retention',
      async (call) => {
        for (let i = 1; i <= 7; i++) await call('state.put', { key: 'r', value: bytes(String(i)), content_type: 'text/plain', updated_by: '' });
        for (const key of ['a', 'b', 'c']) for (let i = 1; i <= 4; i++) await call('state.put', { key, value: bytes(String(i)), content_type: 'text/plain', updated_by: '' });
        await call('state.prune_history', { keep: 2, after: '', keys: 2, rows: 3 });
        await call('state.prune_history', { keep: 2, after: 'a', keys: 10, rows: 100 });
        await call('state.prune_history', { keep: 1, after: '', keys: 10, rows: 100 });
      },
      { stateHistoryKeep: 3 },
    );
  });

  // Keeping 1 version (the current alone) and 2: the edges of the one-statement write on
  // PostgreSQL (the version it drops is the one that was current when it began).
  for (const keep of [1, 2]) {
    t.test(`state: history retention keeping ${keep}`, async (t) => {
      await check(
        t,
        `retention-${keep}`,
        async (call, _batch, read) => {
          for (let i = 1; i <= 4; i++) await call('state.put', { key: 'r', value: bytes(String(i)), content_type: 'text/plain', updated_by: '' });
          await call('state.rollback', { key: 'r', version: 4 });
          await call('state.prune_history', { keep: 1, after: '', keys: 10, rows: 100 });
          await read((r) => r.state.history('r', 10));
        },
        { stateHistoryKeep: keep },
      );
    });
  }

  t.test('a batch: a failing method rolls back alone, the others commit', async (t) => {
    await check(t, 'batch', async (_call, batch) => {
      await batch([
        { method: 'state.put', req: { key: 'x', value: bytes('1'), content_type: 'text/plain', updated_by: '' } },
        { method: 'state.put', req: { key: 'x', value: bytes('2'), content_type: 'text/plain', updated_by: '', if_match: '"wrong"' } },
        { method: 'state.nuke', req: {} },
        { method: 'events.publish', req: { topic: 't', data: '{}', source: '' } },
        { method: 'state.delete', req: { key: 'missing' } },
        { method: 'state.put', req: { key: 'x', value: bytes('3'), content_type: 'text/plain', updated_by: '' } },
      ]);
    });
  });

  t.test('events: ids in order, prune keeps the newest', async (t) => {
    await check(t, 'events', async (call, batch, read) => {
      for (let i = 0; i < 5; i++) await call('events.publish', { topic: `t.${i}`, data: `{"i":${i}}`, source: 's' });
      await batch(Array.from({ length: 5 }, (_, i) => ({ method: 'events.publish', req: { topic: 'b', data: String(i), source: '' } })));
      await call('events.prune', { keep: 6, chunk: 3 });
      await call('events.prune', { keep: 6, chunk: 3 });
      await call('events.prune', { keep: 6, chunk: 3 });
      await call('events.publish', { topic: 'after', data: 'null', source: '' });
      for (const topic of ['agent.a.done', 'agent.b.done', 'agent/x.done', 'build.[1]', 'é.x']) await call('events.publish', { topic, data: '{"k":[1,2]}', source: topic.length > 7 ? 'long' : 'short' });
      // Readers: every filter, and `take` declining part-way (the byte budget's way to stop).
      const collect = (limit = Infinity) => {
        const got: unknown[] = [];
        return { got, take: (e: unknown) => got.push(e) < limit };
      };
      const h = (f: Partial<import('../../src/domains/events/reader.js').HistoryFilter>, limit?: number) =>
        read(async (r) => {
          const c = collect(limit);
          await r.events.history({ topic: '', from: null, to: null, source: null, since: null, before: null, last: 50, scan: 5000, ...f }, c.take);
          return c.got;
        });
      await h({});
      await h({ last: 3 });
      await h({}, 2);
      await h({ since: 7 });
      await h({ since: 7, last: 2 });
      await h({ topic: 'agent.*.done' });
      await h({ topic: 'agent*' });
      await h({ topic: 'build.\\[1]' });
      await h({ topic: '[é]*' });
      await h({ topic: 't.[0-2]' });
      await h({ source: 'long' });
      // The id window: a narrow scan and a `before` cursor read the same rows on both.
      await h({ topic: 'agent*', scan: 3 });
      await h({ before: 10, scan: 4, last: 2 });
      await h({ since: 2, scan: 3 });
      await h({ from: '2000-01-01 00:00:00', to: '2999-01-01 00:00:00' });
      await h({ to: '2000-01-01 00:00:00' });
      const w = (pattern: string, after: number, upto: number, limit?: number) =>
        read(async (r) => {
          const c = collect(limit);
          const res = await r.events.window(pattern, after, upto, c.take);
          return { ...res, got: c.got };
        });
      await w('*', 0, 100);
      await w('agent.*', 5, 14);
      await w('*', 3, 12, 2);
      await read((r) => r.events.between(4, 9));
      await read((r) => r.events.since(3, 4, 1_000_000));
      await read((r) => r.events.since(0, 100, 20));
      await read((r) => r.events.since(0, 100, 0));
      await read((r) => r.events.oldest());
      await read((r) => r.events.newest());
    });
  });
}

declare namespace Tap {
  type Test = import('tap').Test;
}
