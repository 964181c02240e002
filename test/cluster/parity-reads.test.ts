import t from 'tap';
import { filePostgres } from '../helpers/postgres.js';
import { checkParity, type Scenario } from '../helpers/parity.js';
import { roundedSum } from '../../src/domains/llm/reader.js';
import { periodsAt } from '../../src/domains/llm/periods.js';
/** An `llm.record` request of one record (a batch, with the budget periods). */
const llmRecord = (r: { instance_id: string; project: string; provider: string; model: string; tokens_in: number; tokens_out: number; cost_usd: number; request_type: string; session_tag: string }) => ({
  records: [{ cache_creation_tokens: 0, cache_read_tokens: 0, cost_source: 'reported' as const, session_id: '', dedup_key: '', ...r }],
  periods: periodsAt(Date.parse('2026-01-01T00:00:00Z')),
});


/**
 * Cluster mode: the spec, template, audit, LLM usage, agent metric and compliance
 * and webhook readers answer alike on both backends, for every method, filter and ordering tie.
 */

const started = await filePostgres();
if ('skipped' in started) {
  t.skip(`reader parity (specs, templates, audit, llm, agent metrics, compliance, webhooks): ${started.skipped}`);
} else {
  const pg = started;
  t.teardown(() => pg.stop());
  const bytes = (s: string) => Buffer.from(s);
  const agent = { actor: 'agent-1' };

  const check = (t: Tap.Test, name: string, scenario: Scenario) => checkParity(t, pg, name, scenario);

  t.test('webhooks: list newest first with ties in creation order, get, active, the log as webhooks read it', async (t) => {
    const run = await check(t, 'webhooks', async (call, _batch, read) => {
      const hook = (id: string, patterns: string[], secret = '') => call('webhooks.create', { id, url: `http://127.0.0.1:9/${id}`, patterns, secret }, { audit: agent });
      await call('events.publish', { topic: 'a.one', data: '{"n":1}', source: 's' });
      await hook('h2', ['task.*'], 'sec');
      await hook('h1', ['*']);
      await hook('h0', ['a.*', 'b']);
      for (const topic of ['a.two', 'b', 'task.x', 'c', 'a.three']) await call('events.publish', { topic, data: `{"t":"${topic}"}`, source: '' });
      await call('webhooks.settle', { webhook_id: 'h1', at: '2024-05-01 10:00:00', cursor: 3, delivered: 2, dropped: 0, max_attempts: 3, failure: { event_id: 4, error: 'HTTP 500', next_at: 1714557600000 } });
      await call('webhooks.delete', { id: 'h2' });
      await hook('h2', ['c']);
      await read((r) => r.webhooks.list());
      await read((r) => r.webhooks.get('h1'));
      await read((r) => r.webhooks.get('none'));
      // The live-restore count is PostgreSQL's alone (0 here; SQLite restores by a restart).
      await read(async (r) => (await r.webhooks.active()).map(({ restores, ...h }) => (restores === undefined || restores === 0 ? h : { ...h, restores })).sort((a, b) => (a.id < b.id ? -1 : 1)));
      await read((r) => r.webhooks.newestEvent());
      await read((r) => r.webhooks.topicsAfter(0, Number.MAX_SAFE_INTEGER, 100));
      await read((r) => r.webhooks.topicsAfter(2, 5, 2));
      await read((r) => r.webhooks.events([2, 4, 6]));
      await read((r) => r.webhooks.events([]));
      await read((r) => r.webhooks.events([99]));
    });
    t.equal(run.transcript.length, 12 + 10, 'every read recorded');
  });

  t.test('specs: list by name, get', async (t) => {
    const run = await check(t, 'specs', async (call, _batch, read) => {
      for (const name of ['b', 'a', 'Z', 'é', 'a b', '_x', 'a/1']) await call('specs.put', { project: 'p', name, data: bytes(`{"n":"${name}"}`) }, { audit: agent });
      await call('specs.put', { project: 'p', name: 'a', data: bytes('{"v":2}') });
      await call('specs.put', { project: 'q', name: 'only', data: bytes('x') });
      await call('specs.delete', { project: 'p', name: '_x' });
      await read((r) => r.specs.list('p'));
      await read((r) => r.specs.list('q'));
      await read((r) => r.specs.list('P'));
      await read((r) => r.specs.list(''));
      await read((r) => r.specs.get('p', 'a'));
      await read((r) => r.specs.get('p', 'é'));
      await read((r) => r.specs.get('p', '_x'));
      await read((r) => r.specs.get('q', 'a'));
    });
    t.equal(run.transcript.length, 10 + 8, 'every read recorded');
  });

  t.test('templates: newest first with ties in insertion order, kind and tag filters, get', async (t) => {
    const run = await check(t, 'templates', async (call, _batch, read) => {
      const tpl = (id: string, kind: string, tags: string[]) => ({ id, name: `T ${id}`, description: `about ${id}`, kind, data: `{"id":"${id}","n":1.50}`, tags });
      await call('templates.create', tpl('t1', 'rules', ['a', 'b']), { audit: agent });
      await call('templates.create', tpl('t2', 'spec', ['a']));
      await call('templates.create', tpl('t0', 'rules', []));
      await call('templates.create', tpl('z', 'spec', ['é', '', '1', 'a b']));
      await call('templates.create', tpl('nul', 'rules', ['\u0000', 'x"y']));
      await call('templates.create', tpl('t3', 'Rules', ['A']));
      // Deleted and created again: the newest insert.
      await call('templates.delete', { id: 't1' });
      await call('templates.create', tpl('t1', 'rules', ['b']));
      const list = (kind: string | null, tag: string | null) => read((r) => r.templates.list({ kind, tag }));
      await list(null, null);
      await list('rules', null);
      await list('spec', null);
      await list('none', null);
      await list(null, 'a');
      await list(null, 'b');
      await list(null, '');
      await list(null, '1');
      await list(null, 'é');
      await list(null, '\u0000');
      await list(null, 'x"y');
      await list(null, 'x');
      await list('rules', 'b');
      await list('spec', 'b');
      await read((r) => r.templates.get('t1'));
      await read((r) => r.templates.get('z'));
      await read((r) => r.templates.get('missing'));
    });
    const ids = (run.transcript[8] as Array<{ id: string }>).map((r) => r.id);
    t.same(ids, ['t1', 't3', 'nul', 'z', 't0', 't2'], 'created in one second: the later insert first');
  });

  t.test('audit: list filters and limits, counts over spans', async (t) => {
    await check(t, 'audit', async (call, _batch, read) => {
      await call('specs.put', { project: 'p', name: 'a', data: bytes('1') }, { audit: agent });
      await call('specs.put', { project: 'p', name: 'b', data: bytes('1') }, { audit: { actor: 'agent-2' } });
      await call('specs.put', { project: 'p', name: 'b', data: bytes('2'), if_match: '"stale"' }, { audit: { actor: 'agent-2' } });
      await call('state.put', { key: 'k', value: bytes('1'), content_type: 'text/plain', updated_by: '' }, { audit: { actor: '' } });
      await call('templates.create', { id: 't', name: 'T', description: '', kind: 'rules', data: '[]', tags: [] }, { audit: { actor: 'Agent-1' } });
      await call('state.put', { key: 'k', value: bytes('2'), content_type: 'text/plain', updated_by: '' }, { audit: { actor: 'é', action: 'custom.Action', resource: 'r/1', detail: '{"a":1}' } });
      await call('specs.delete', { project: 'p', name: 'a' }, { audit: agent });
      await call('state.delete', { key: 'k' }, { audit: agent });
      const list = (f: Partial<import('../../src/domains/audit/reader.js').AuditFilter>) => read((r) => r.audit.list({ actor: null, action: null, from: null, to: null, limit: 100, ...f }));
      await list({});
      await list({ limit: 2 });
      await list({ actor: 'agent-1' });
      await list({ actor: 'agent-1', limit: 1 });
      await list({ actor: '' });
      await list({ action: 'spec.put' });
      await list({ action: 'spec.put', actor: 'agent-2' });
      await list({ action: 'none' });
      await list({ from: '2000-01-01 00:00:00', to: '2999-12-31 23:59:59' });
      await list({ to: '2000-01-01 00:00:00' });
      await list({ from: '2999-01-01 00:00:00' });
      await read((r) => r.audit.counts({ from: null, to: null }));
      await read((r) => r.audit.counts({ from: '2000-01-01 00:00:00', to: null }));
      await read((r) => r.audit.counts({ from: null, to: '2000-01-01 00:00:00' }));
    });
  });

  t.test('llm: list by instance, project or session tag, summaries summed as SQLite sums', async (t) => {
    const run = await check(t, 'llm', async (call, _batch, read) => {
      const rec = (instance_id: string, project: string, model: string, session_tag: string, cost_usd: number, tokens_in = 10) =>
        call('llm.record', llmRecord({ instance_id, project, provider: 'anthropic', model, tokens_in, tokens_out: 3, cost_usd, request_type: 'completion', session_tag }), { audit: agent });
      // 0.1 + 0.2 + 0.3: 0.6 compensated, 0.6000000000000001 added naively.
      await rec('a', 'p', 'm1', 's1', 0.1);
      await rec('a', 'p', 'm2', '', 0.2);
      await rec('b', 'p', 'm1', 's1', 0.3, 0);
      await rec('b', 'q', 'M1', 's2', 1e-17);
      await rec('é', 'q', 'm1', '', 1);
      await rec('', '', 'm3', '', -1e-17, 7);
      await rec('c', 'r', 'm3', 's3', 0);
      await rec('c', 'r', 'm3', 's3', 5e-324);
      await rec('c', 'Q', 'm4', 's4', 1e11);
      await rec('c', 'Q', 'm4', 's4', 3.3333333333333335);
      const list = (by: import('../../src/domains/llm/reader.js').ListFilter['by'], f: { from?: string; to?: string; limit?: number } = {}) =>
        read((r) => r.llm.list({ by, from: f.from ?? null, to: f.to ?? null, limit: f.limit ?? 100 }));
      await list(null);
      await list(null, { limit: 3 });
      await list({ column: 'instance_id', value: 'a' });
      await list({ column: 'instance_id', value: '' });
      await list({ column: 'project', value: 'q' });
      await list({ column: 'project', value: 'none' });
      await list({ column: 'session_tag', value: 's1' }, { limit: 1 });
      await list(null, { from: '2000-01-01 00:00:00', to: '2999-12-31 23:59:59' });
      await list(null, { to: '2000-01-01 00:00:00' });
      for (const column of ['instance_id', 'project', 'model', 'session_tag'] as const) await read((r) => r.llm.summary(column, { from: null, to: null }));
      await read((r) => r.llm.summary('project', { from: '2000-01-01 00:00:00', to: '2999-12-31 23:59:59' }));
      await read((r) => r.llm.summary('model', { from: '2999-01-01 00:00:00', to: null }));
    });
    const byProject = run.transcript.at(-2) as { groups: Array<{ g: string; total_cost_usd: number }> };
    t.equal(byProject.groups.find((g) => g.g === 'p')!.total_cost_usd, 0.6, 'a sum where naive addition differs');
  });

  t.test('llm: the exact sum rounds once, ties to even', async (t) => {
    const parts = (xs: number[]) =>
      xs.map((x) => {
        const b = Buffer.alloc(8);
        b.writeDoubleBE(x);
        const bits = b.readBigInt64BE();
        const e = Number((bits >> 52n) & 2047n);
        const m = (bits & ((1n << 52n) - 1n)) | (e === 0 ? 0n : 1n << 52n);
        return { e, m: String(bits < 0n ? -m : m) };
      });
    t.equal(roundedSum(parts([0.1, 0.2, 0.3])), 0.6);
    t.equal(roundedSum(parts([1, 2 ** -53])), 1, 'a tie: to even');
    t.equal(roundedSum(parts([1, 2 ** -53, 2 ** -60])), 1 + 2 ** -52, 'past the tie: up');
    t.equal(roundedSum(parts([1 + 2 ** -52, 2 ** -53])), 1 + 2 ** -51, 'a tie: to even, up');
    t.equal(roundedSum(parts([1e300, -1e300, 5e-324])), 5e-324, 'subnormal');
    t.equal(roundedSum(parts([-0.1, -0.2])), -(0.1 + 0.2), 'negative');
    t.equal(roundedSum([]), 0, 'nothing');
  });

  t.test('agent metrics: one agent by period prefix, totals per agent and metric', async (t) => {
    await check(t, 'agent-metrics', async (call, _batch, read) => {
      const m = (instance_id: string, metric_name: string, period: string, value: number) => ({ instance_id, metric_name, period, value });
      await call('agent_metrics.add', { rows: [m('a', 'rest_calls', '2020-01-01T00', 1), m('a', 'errors', '2020-01-01T00', 2), m('b', 'rest_calls', '2020-01-01T00', 3)] });
      await call('agent_metrics.add', { rows: [m('a', 'rest_calls', '2020-01-01T00', 4), m('a', 'rest_calls', '2020-01-01T01', 5), m('a', 'Mcp', '2020-01-01T01', 6)] });
      await call('agent_metrics.add', { rows: [m('a', 'rest_calls', '2020-01-02T00', 1), m('B', 'rest_calls', '2020-01-02T00', 1), m('é', 'é', '2099-01-01T00', 7), m('a', 'zz', '2020-01-02T00', 2)] });
      const rows = (id: string, period: string | null) => read((r) => r.agentMetrics.rows(id, period));
      await rows('a', null);
      await rows('a', '2020');
      await rows('a', '2020-01-01');
      await rows('a', '2020-01-01T0');
      await rows('a', '2020-01-01T01');
      await rows('a', '2099');
      await rows('é', null);
      await rows('none', null);
      const totals = (period: string | null) => read((r) => r.agentMetrics.totals(period));
      await totals(null);
      await totals('2020-01-01');
      await totals('2020-01-02T00');
      await totals('1999');
    });
  });

  t.test('compliance: history newest first, by instance, limits', async (t) => {
    await check(t, 'compliance', async (call, _batch, read) => {
      const runOf = (instance_id: string, contract: string, pass: boolean) => ({ instance_id, project: 'p', contract, pass, violations: pass ? '[]' : '[{"path":"x","message":"m 1.50"}]' });
      await call('compliance.record', { runs: [runOf('i1', 'c1', true), runOf('i1', 'c2', false), runOf('i2', 'c1', false)], keep: 0 });
      await call('compliance.record', { runs: [runOf('i1', 'c1', false), runOf('é', 'c1', true)], keep: 0 });
      await call('compliance.record', { runs: [runOf('i1', 'c1', true)], keep: 2 });
      const history = (id: string | null, limit: number) => read((r) => r.compliance.history(id, limit));
      await history(null, 100);
      await history(null, 2);
      await history('i1', 100);
      await history('i1', 1);
      await history('é', 5);
      await history('none', 5);
      await history('', 5);
    });
  });
}

declare namespace Tap {
  type Test = import('tap').Test;
}
