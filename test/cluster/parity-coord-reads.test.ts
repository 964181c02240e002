import t from 'tap';
import type { ReplyEnvelope } from '../../schemas/rpc/envelope.js';
import { filePostgres } from '../helpers/postgres.js';
import { checkParity, type Call, type Scenario } from '../helpers/parity.js';
import { tokenHash } from '../../schemas/db/tables/tokens.js';

/** Cluster mode: the instance, rule, lease and task readers answer alike on both backends. */

const started = await filePostgres();
if ('skipped' in started) {
  t.skip(`reader parity (instances, rules, leases, tasks): ${started.skipped}`);
} else {
  const pg = started;
  t.teardown(() => pg.stop());
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  /** Just past the next second boundary: what follows shares one storage second on both backends. */
  const nextSecond = () => sleep(1020 - (Date.now() % 1000));

  const check = (t: Tap.Test, name: string, scenario: Scenario) => checkParity(t, pg, name, scenario);
  const res = <T>(r: ReplyEnvelope): T => {
    if (!r.ok) throw new Error(`unexpected failure: ${r.err.status} ${r.err.message}`);
    return r.res as T;
  };
  const register = async (call: Call, name: string, extra: { workspace?: string; stack?: string; capabilities?: string[] } = {}) =>
    res<{ id: string; token: string }>(await call('instances.register', { name, workspace: extra.workspace ?? `/w/${name}`, intent: 'work', stack: extra.stack ?? 'ts', capabilities: extra.capabilities ?? [] }));

  t.test('instances: lists, filters, ties, tokens', async (t) => {
    const run = await check(t, 'instances', async (call, _batch, read) => {
      await nextSecond();
      const a = await register(call, 'alice', { capabilities: ['go', 'ts'], stack: 'go' });
      const b = await register(call, 'bob', { workspace: '/shared' });
      const c = await register(call, 'carol', { workspace: '/shared', capabilities: ['ts'] });
      await call('instances.touch', { id: c.id, op: 'activate' });
      await call('instances.touch', { id: a.id, op: 'activate' });
      await read((r) => r.instances.list({}));
      await read((r) => r.instances.list({ workspace: '/shared' }));
      await read((r) => r.instances.list({ capability: 'ts' }));
      await read((r) => r.instances.list({ capability: 'none' }));
      await read((r) => r.instances.list({ name: 'bob', stack: 'ts' }));
      await read((r) => r.instances.list({ stack: 'go' }));
      await call('instances.mark_stale', { cutoff: '9999-01-01 00:00:00' });
      await read((r) => r.instances.stale());
      await read((r) => r.instances.get(b.id));
      await read((r) => r.instances.get('nobody'));
      await read(async (r) => (await r.instances.tokens()).map((x) => x.name).sort());
      await read(async (r) => (await r.instances.byTokenHash(tokenHash(c.token)))?.name ?? null);
      await read((r) => r.instances.byTokenHash(tokenHash('not-a-token')));
      await read(async (r) => (await r.instances.byId(a.id))?.name ?? null);
      await read((r) => r.instances.count());
    });
    t.ok(run.transcript.length > 15, 'the scenario did something');
  });

  t.test('rules: lists and the validation selection', async (t) => {
    await check(t, 'rules', async (call, _batch, read) => {
      const rule = (project: string, rule_id: string, extra: Record<string, unknown> = {}) => ({
        project,
        rule_id,
        severity: 'error',
        match_type: 'regex',
        pattern: 'TODO',
        message: '',
        stack: '',
        applies_to: ['*'],
        source: 'local',
        proposed_by: '',
        context: '',
        ...extra,
      });
      await call('rules.replace', { project: 'p', rules: [rule('p', 'b'), rule('p', 'A', { stack: 'go' }), rule('p', 'a', { applies_to: ['*.ts'] })] });
      await call('rules.replace', { project: '_global', rules: [rule('_global', 'g1'), rule('_global', 'Z')] });
      await call('rules.propose', { ...rule('p', 'proposed'), source: undefined });
      await call('rules.import', { rules: [rule('q', 'x', { source: 'external' })] });
      await call('rules.decide', { project: 'p', rule_id: 'b', status: 'rejected' });
      await read((r) => r.rules.list('p'));
      await read((r) => r.rules.list('none'));
      await read((r) => r.rules.forValidation('p', '_global'));
      await read((r) => r.rules.forValidation('_global', '_global'));
      await read((r) => r.rules.forValidation('none', '_global'));
      await read((r) => r.rules.all(null));
      await read((r) => r.rules.all('accepted'));
      await read((r) => r.rules.all('proposed'));
      await read((r) => r.rules.all('rejected'));
    });
  });

  t.test('leases: get, list, prefix lookups, count, due', async (t) => {
    await check(t, 'leases', async (call, _batch, read) => {
      const a = (await register(call, 'alice')).id;
      const b = (await register(call, 'bob')).id;
      const take = async (holder: string, resources: string[], exclusive = true, ttl_ms = 0) =>
        res<{ lease: { id: string } }>(await call('leases.acquire', { holder, project: '', resources, exclusive, ttl_ms, reason: '' })).lease.id;
      const l1 = await take(a, ['src/**']);
      await take(b, ['docs/a.md', 'docs/b.md'], false);
      await take(b, ['src/app/**'], false).catch(() => '');
      await take(a, ['**/*.lock']);
      await take(b, ['README.md'], true, 60_000);
      await take(a, ['tmp/x'], true, 1);
      await sleep(5);
      const now = Date.now();
      await read((r) => r.leases.get(l1, now));
      await read((r) => r.leases.get('nope', now));
      await read((r) => r.leases.list(null, null, 100, now));
      await read((r) => r.leases.list(b, null, 100, now));
      await read((r) => r.leases.list(null, null, 2, now));
      await read((r) => r.leases.list(null, '', 100, now));
      await read((r) => r.leases.list(null, 'other', 100, now));
      const sorted = async (p: Promise<Array<{ id: string; held: string; seq: number }>> | Array<{ id: string; held: string; seq: number }>) =>
        (await p).map((x) => `${x.held}`).sort();
      for (const prefix of ['', 'src/', 'src/app/main.ts', 'docs/a.md', 'docs', 'tmp/x', 'zzz']) {
        await read((r) => sorted(r.leases.startingBefore('', prefix, now)));
        await read((r) => sorted(r.leases.under('', prefix, now)));
        await read((r) => sorted(r.leases.under('other', prefix, now)));
      }
      await read((r) => r.leases.count(now));
      await read((r) => r.leases.due(now));
      await read((r) => r.leases.due(now - 60_000));
    });
  });

  t.test('tasks: get and filtered pages', async (t) => {
    await check(t, 'tasks', async (call, _batch, read) => {
      const a = (await register(call, 'alice')).id;
      const task = (project: string, title: string, priority = 0) => ({ project, title, data: 'null', priority, deps: [], capabilities: [], max_attempts: 2 });
      for (let i = 0; i < 5; i++) await call('tasks.create', task(i % 2 ? 'p' : 'q', `t${i}`, i));
      await call('tasks.claim', { project: 'p', holder: a });
      await call('tasks.claim', { project: 'q', holder: a });
      await call('tasks.complete', { id: 1, holder: a, reason: '', retry: false }).catch(() => undefined);
      await read((r) => r.tasks.get(2));
      await read((r) => r.tasks.get(99));
      const page = (f: Partial<import('../../src/domains/tasks/reader.js').TaskFilter>) => read((r) => r.tasks.list({ project: null, statuses: null, claimedBy: null, after: 0, limit: 100, ...f }));
      await page({});
      await page({ project: 'p' });
      await page({ statuses: ['ready'] });
      await page({ statuses: ['claimed', 'done'] });
      await page({ statuses: [] });
      await page({ claimedBy: a });
      await page({ after: 2, limit: 2 });
    });
  });
}

declare namespace Tap {
  type Test = import('tap').Test;
}
