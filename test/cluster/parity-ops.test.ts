import t from 'tap';
import { filePostgres } from '../helpers/postgres.js';
import { checkParity, type Call, type Scenario } from '../helpers/parity.js';
import { periodsAt } from '../../src/domains/llm/periods.js';
/** An `llm.record` request of one record (a batch, with the budget periods). */
const llmRecord = (r: { instance_id: string; project: string; provider: string; model: string; tokens_in: number; tokens_out: number; cost_usd: number; request_type: string; session_tag: string }) => ({
  records: [{ cache_creation_tokens: 0, cache_read_tokens: 0, cost_source: 'reported' as const, session_id: '', dedup_key: '', ...r }],
  periods: periodsAt(Date.parse('2026-01-01T00:00:00Z')),
});


/**
 * Cluster mode: the rule, template, spec, compliance, webhook and operations writer
 * methods answer and store alike on both backends.
 */

const started = await filePostgres();
if ('skipped' in started) {
  t.skip(`writer parity (rules, webhooks, ops): ${started.skipped}`);
} else {
  const pg = started;
  t.teardown(() => pg.stop());
  const bytes = (s: string) => Buffer.from(s);
  const agent = { actor: 'agent-1' };

  const check = (t: Tap.Test, name: string, scenario: Scenario) => checkParity(t, pg, name, scenario);
  const errors = (transcript: unknown[]) => transcript.flatMap((r) => ((r as { ok: boolean; err?: { status: string } }).ok ? [] : [(r as { err: { status: string } }).err.status]));

  const rule = (project: string, rule_id: string, extra: Record<string, unknown> = {}) => ({
    project,
    rule_id,
    severity: 'error',
    match_type: 'regex',
    pattern: `no-${rule_id}`,
    message: `avoid ${rule_id}`,
    stack: 'ts',
    applies_to: ['*.ts'],
    source: 'local',
    proposed_by: '',
    context: '',
    ...extra,
  });
  const propose = (call: Call, project: string, rule_id: string) =>
    call(
      'rules.propose',
      { project, rule_id, pattern: `bad-${rule_id}`, message: 'learned', severity: 'warning', match_type: 'literal', stack: 'go', applies_to: ['*.go', 'cmd/*'], proposed_by: 'agent-1', context: 'seen twice' },
      { audit: agent },
    );

  t.test('rules: propose, decide, delete, replace, import', async (t) => {
    const run = await check(t, 'rules', async (call) => {
      await propose(call, 'p', 'r1');
      await propose(call, 'p', 'r1');
      await propose(call, 'p', 'r2');
      await propose(call, 'p', 'r3');
      await call('rules.decide', { project: 'p', rule_id: 'r1', status: 'accepted' }, { audit: agent });
      await call('rules.decide', { project: 'p', rule_id: 'r1', status: 'rejected' });
      await call('rules.decide', { project: 'p', rule_id: 'r2', status: 'rejected' }, { audit: agent });
      await call('rules.decide', { project: 'p', rule_id: 'nope', status: 'accepted' });
      await call('rules.delete', { project: 'p', rule_id: 'r2' }, { audit: agent });
      await call('rules.delete', { project: 'p', rule_id: 'r2' });
      await call('rules.replace', { project: 'q', rules: [rule('x', 'a'), rule('x', 'b', { severity: 'warning', applies_to: [] })] });
      await call('rules.replace', { project: 'q', rules: [rule('q', 'c'), rule('q', 'c')] });
      await call('rules.replace', { project: 'q', rules: [rule('q', 'd', { source: 'remote' })] });
      await call('rules.replace', { project: 'empty', rules: [] });
      // r3 exists as proposed: updated and accepted, its proposed_by/context kept; the others are new.
      await call(
        'rules.import',
        { rules: [rule('p', 'r3', { pattern: 'imported', proposed_by: 'x', context: 'y' }), rule('p', 'r9', { proposed_by: 'importer', context: 'from q' }), rule('z', 'r1'), rule('z', 'r1', { message: 'second wins' })] },
        { audit: agent },
      );
      await call('rules.import', { rules: [] });
    });
    t.same(errors(run.transcript), ['ALREADY_EXISTS', 'NOT_FOUND', 'NOT_FOUND', 'NOT_FOUND', 'INTERNAL'], 'the error paths were taken');
    t.equal(run.tables.validation_rules!.length, 5, 'the rules stored');
  });

  t.test('specs: put, CAS, delete', async (t) => {
    const run = await check(t, 'specs', async (call) => {
      const put = (name: string, v: string, extra: Record<string, string> = {}) => call('specs.put', { project: 'p', name, data: bytes(v), ...extra }, { audit: agent });
      const first = (await put('api', 'v1')) as { res: { hash: string } };
      await put('api', 'v2', { if_match: `"${first.res.hash}"` });
      await put('api', 'v3', { if_match: `"${first.res.hash}"` });
      await put('api', 'v3', { if_none_match: '*' });
      await put('api', 'v3', { if_none_match: `"${first.res.hash}"` });
      await put('new', 'n', { if_match: '*' });
      await put('new', 'n', { if_none_match: '*' });
      await put('other', 'o');
      await call('specs.delete', { project: 'p', name: 'api', if_match: '"stale"' });
      await call('specs.delete', { project: 'p', name: 'api', if_match: '*' }, { audit: agent });
      await call('specs.delete', { project: 'p', name: 'api' });
      await call('specs.put', { project: 'p', name: 'other', data: bytes('') });
    });
    t.same(errors(run.transcript), ['FAILED_PRECONDITION', 'FAILED_PRECONDITION', 'FAILED_PRECONDITION', 'FAILED_PRECONDITION', 'NOT_FOUND'], 'the error paths were taken');
  });

  t.test('templates and compliance', async (t) => {
    const run = await check(t, 'templates+compliance', async (call) => {
      const tpl = (id: string) => ({ id, name: `T ${id}`, description: 'd', kind: 'rules', data: '{"rules":[]}', tags: ['a', 'b'] });
      await call('templates.create', tpl('t1'), { audit: agent });
      await call('templates.create', tpl('t1'));
      await call('templates.create', { ...tpl('t2'), tags: [] });
      await call('templates.delete', { id: 't1' }, { audit: agent });
      await call('templates.delete', { id: 't1' });
      await call('templates.delete', { id: 'never' });
      const runOf = (instance_id: string, contract: string, pass: boolean) => ({ instance_id, project: 'p', contract, pass, violations: pass ? '[]' : '[{"rule":"x"}]' });
      await call('compliance.record', { runs: [runOf('i1', 'c1', true), runOf('i1', 'c2', false)], keep: 0 });
      for (let i = 0; i < 4; i++) await call('compliance.record', { runs: [runOf('i1', 'c1', i % 2 === 0), runOf('i2', 'c1', true), runOf('i1', 'c1', false)], keep: 3 });
      await call('compliance.record', { runs: [runOf('i1', 'c2', true)], keep: 1 });
      await call('compliance.record', { runs: [], keep: 2 });
    });
    t.same(errors(run.transcript), ['ALREADY_EXISTS', 'NOT_FOUND', 'NOT_FOUND'], 'the error paths were taken');
    t.equal(run.tables.compliance_runs!.length, 3 + 3 + 1, 'retention kept the newest runs per pair');
  });

  t.test('webhooks: create, delete, settle (cursor, retries, give-up, disable)', async (t) => {
    const run = await check(t, 'webhooks', async (call) => {
      const settle = (webhook_id: string, run: Record<string, unknown>, max_attempts = 3) =>
        call('webhooks.settle', { webhook_id, at: '2024-05-01 10:00:00', cursor: 0, delivered: 0, dropped: 0, max_attempts, ...run });
      const fail = (event_id: number, error: string) => ({ event_id, error, next_at: Date.now() + 1000 * event_id });
      await call('webhooks.create', { id: 'h1', url: 'http://127.0.0.1:9/a', patterns: ['task.*'], secret: 's' }, { audit: agent });
      await call('webhooks.create', { id: 'h1', url: 'http://127.0.0.1:9/b', patterns: [], secret: '' });
      for (let i = 0; i < 6; i++) await call('events.publish', { topic: `task.${i}`, data: '{}', source: '' });
      // Created after six events: starts at the newest.
      await call('webhooks.create', { id: 'h2', url: 'http://127.0.0.1:9/c', patterns: ['*'], secret: '' });
      await settle('h1', { cursor: 2, delivered: 2 });
      await settle('h1', { cursor: 2, dropped: 1 });
      await settle('h1', { cursor: 2, failure: fail(3, 'HTTP 500') });
      await settle('h1', { cursor: 2, failure: fail(3, 'HTTP 502') });
      // Third attempt on event 3: passed over.
      await settle('h1', { cursor: 2, failure: fail(3, 'timeout') });
      // Delivered some, then failed: attempts start again from 0.
      await settle('h1', { cursor: 4, delivered: 1, failure: fail(5, 'HTTP 503') });
      await settle('h1', { cursor: 4, delivered: 0, dropped: 2, failure: fail(5, 'HTTP 503') }, 2);
      // A late settle never rewinds the cursor.
      await settle('h1', { cursor: 3, delivered: 1 });
      // Ten consecutive failures disable h2.
      for (let i = 0; i < 10; i++) await settle('h2', { cursor: 6, failure: fail(7, `refused ${i}`) }, 100);
      await settle('h2', { cursor: 7, delivered: 1 });
      await settle('gone', { cursor: 1, delivered: 1 });
      await call('webhooks.create', { id: 'h3', url: 'http://127.0.0.1:9/d', patterns: ['*'], secret: '' });
      await call('webhooks.delete', { id: 'h3' }, { audit: agent });
      await call('webhooks.delete', { id: 'h3' });
      await settle('h3', { cursor: 9, delivered: 1 });
    });
    t.same(errors(run.transcript), ['ALREADY_EXISTS', 'NOT_FOUND'], 'the error paths were taken');
    const hooks = run.tables.webhooks as Array<{ id: string; active: number; cursor: number; dropped: number }>;
    t.same(
      hooks.map((h) => [h.id, h.active, h.cursor, h.dropped]).sort(),
      [
        ['h1', 1, 5, 5],
        ['h2', 0, 6, 0],
      ],
      'cursors advanced, events passed over, h2 disabled',
    );
  });

  t.test('ops: agent metrics, LLM usage, pruning in chunks', async (t) => {
    const run = await check(t, 'ops', async (call) => {
      const m = (instance_id: string, metric_name: string, period: string, value: number) => ({ instance_id, metric_name, period, value });
      await call('agent_metrics.add', { rows: [m('a', 'calls', '2020-01-01T00', 1), m('a', 'errors', '2020-01-01T00', 2), m('b', 'calls', '2020-01-01T00', 3)] });
      await call('agent_metrics.add', { rows: [m('a', 'calls', '2020-01-01T00', 4), m('a', 'calls', '2020-01-01T01', 5), m('a', 'calls', '2020-01-01T01', 6)] });
      await call('agent_metrics.add', { rows: [m('a', 'calls', '2020-01-02T00', 1), m('b', 'calls', '2020-01-02T00', 1), m('a', 'calls', '2099-01-01T00', 7)] });
      await call('agent_metrics.add', { rows: [] });
      for (let i = 0; i < 5; i++) {
        await call(
          'llm.record',
          llmRecord({ instance_id: 'a', project: 'p', provider: 'anthropic', model: `m${i}`, tokens_in: 100 * i, tokens_out: 7, cost_usd: 0.0125 * i, request_type: 'completion', session_tag: i % 2 ? 's' : '' }),
          { audit: agent },
        );
      }
      await call('agent_metrics.add', { rows: [m('a', 'calls', '2020-01-01T00', 1)] });
      await call('ops.prune', { table: 'agent_metrics', before: '2020-01-02T00', chunk: 2 });
      await call('ops.prune', { table: 'agent_metrics', before: '2020-01-02T00', chunk: 2 });
      await call('ops.prune', { table: 'agent_metrics', before: '2020-01-02T00', chunk: 2 });
      await call('ops.prune', { table: 'agent_metrics', before: '2021-01-01T00', chunk: 10 });
      // A chunk ending inside an hour: SQLite takes that hour's rows in insertion order, PostgreSQL in
      // key order (it keeps no insertion order), so these are inserted in key order.
      await call('agent_metrics.add', { rows: [m('a', 'calls', '2020-06-01T00', 1), m('a', 'errors', '2020-06-01T00', 1), m('b', 'calls', '2020-06-01T00', 1), m('c', 'calls', '2020-06-01T00', 1)] });
      await call('ops.prune', { table: 'agent_metrics', before: '2021-01-01T00', chunk: 3 });
      await call('ops.prune', { table: 'llm_usage', before: '2000-01-01 00:00:00', chunk: 2 });
      await call('ops.prune', { table: 'llm_usage', before: '9999-12-31 23:59:59', chunk: 2 });
      await call('ops.prune', { table: 'llm_usage', before: '9999-12-31 23:59:59', chunk: 2 });
      await call('ops.prune', { table: 'audit_log', before: '2000-01-01 00:00:00', chunk: 3 });
      await call('ops.prune', { table: 'audit_log', before: '9999-12-31 23:59:59', chunk: 3 });
      await call('llm.record', llmRecord({ instance_id: '', project: '', provider: 'openai', model: 'x', tokens_in: 0, tokens_out: 0, cost_usd: 0, request_type: 'embedding', session_tag: '' }));
    });
    t.same((run.tables.agent_metrics as Array<{ instance_id: string; period: string }>).map((r) => `${r.instance_id} ${r.period}`).sort(), ['a 2099-01-01T00', 'c 2020-06-01T00'], 'old metric hours pruned, oldest first');
    t.equal(run.tables.llm_usage!.length, 2, 'two LLM chunks pruned');
    t.equal(run.tables.audit_log!.length, 2, 'one audit chunk pruned');
  });

  t.test("a departed agent's compliance runs are pruned by age, a registered agent's kept", async (t) => {
    const run = await check(t, 'compliance-departed', async (call) => {
      const reg = (await call('instances.register', { name: 'here', workspace: 'p', intent: '', stack: '', capabilities: [] })) as { ok: true; res: { id: string } };
      const here = reg.res.id;
      const runOf = (instance_id: string, contract: string) => ({ instance_id, project: 'p', contract, pass: true, violations: '[]' });
      await call('compliance.record', { runs: [runOf(here, 'c1'), runOf('gone', 'c1'), runOf('gone', 'c2'), runOf(here, 'c2')], keep: 0 });
      await call('ops.prune', { table: 'compliance_runs', before: '2000-01-01 00:00:00', chunk: 1 });
      await call('ops.prune', { table: 'compliance_runs', before: '9999-12-31 23:59:59', chunk: 1 });
      await call('ops.prune', { table: 'compliance_runs', before: '9999-12-31 23:59:59', chunk: 5 });
    });
    t.same(
      (run.transcript.slice(2) as Array<{ res: { deleted: number; more: boolean } }>).map((r) => r.res),
      [{ deleted: 0, more: false }, { deleted: 1, more: true }, { deleted: 1, more: false }],
    );
    t.same((run.tables.compliance_runs as Array<{ contract: string }>).map((r) => r.contract).sort(), ['c1', 'c2'], "the registered agent's two runs stay");
  });

  t.test("a session's end is kept for its late telemetry, whichever writer records it, then pruned", async (t) => {
    const [one, two] = ['01a2140c-dfd7-7a00-80cd-c77eb7dbfab3', '01a2140c-dfd7-7a00-80cd-c77eb7dbfab4'];
    const late = (session: string, model: string) => {
      const r = llmRecord({ instance_id: '', project: '', provider: 'openai', model, tokens_in: 1, tokens_out: 1, cost_usd: 0, request_type: 'codex', session_tag: '' });
      return { ...r, records: [{ ...r.records[0]!, session_id: session }] };
    };
    const run = await check(t, 'session-ended', async (call) => {
      for (const [session, name] of [[one, 'alice'], [two, 'bob']] as const) {
        await call('hooks.bind', { session_id: session, client: 'codex', name, workspace: '/w/shop', project: 'shop', repo_root: '/w/shop' });
        await call('hooks.end', { session_id: session });
      }
      await call('llm.record', late(one, 'one-after-end'));
      await call('ops.prune', { table: 'hook_sessions_ended', before: '2000-01-01 00:00:00', chunk: 1 });
      await call('ops.prune', { table: 'hook_sessions_ended', before: '9999-12-31 23:59:59', chunk: 1 });
      await call('ops.prune', { table: 'hook_sessions_ended', before: '9999-12-31 23:59:59', chunk: 1 });
      await call('llm.record', late(two, 'two-after-prune'));
      await call('llm.record', late(one, 'one-after-prune'));
    });
    const usage = run.tables.llm_usage as Array<{ model: string; instance_id: string }>;
    const bound = (run.transcript as Array<{ res?: { instance?: { id: string; name: string } } }>).flatMap((r) => (r.res?.instance ? [[r.res.instance.name, r.res.instance.id]] : []));
    const agentOf = Object.fromEntries(bound.map(([name, id]) => [id, name]));
    t.same(
      usage.map((u) => [u.model, agentOf[u.instance_id] ?? u.instance_id]),
      [['one-after-end', 'alice'], ['two-after-prune', ''], ['one-after-prune', 'alice']],
      "the ended session's agent while its end is kept; once pruned, only a session whose earlier records name it",
    );
    t.same(run.tables.hook_sessions_ended, [], 'both ends pruned, a chunk at a time');
    t.same(
      (run.transcript.slice(5, 8) as Array<{ res: { deleted: number; more: boolean } }>).map((r) => r.res),
      [{ deleted: 0, more: false }, { deleted: 1, more: true }, { deleted: 1, more: true }],
    );
  });

  t.test('idempotent writes: stored once, replayed, refused for another request, pruned', async (t) => {
    const idem = (key: string, hash: string, caller = 'agent-a') => ({ idem: { caller, key, hash } });
    const run = await check(t, 'idempotency', async (call, batch) => {
      await call('events.publish', { topic: 'a', data: '1', source: '' }, idem('k1', 'h1'));
      await call('events.publish', { topic: 'a', data: '1', source: '' }, idem('k1', 'h1'));
      await call('events.publish', { topic: 'b', data: '2', source: '' }, idem('k1', 'h2'));
      await call('events.publish', { topic: 'a', data: '1', source: '' }, idem('k1', 'h1', 'agent-b'));
      // guarded: a failing envelope in the batch. Its caller sorts after the others: the prune below
      // takes the oldest by (created_at, caller, key), and a second that turns between these writes
      // in one backend's run and not the other's must not change which key is left.
      await batch([
        { method: 'events.publish', req: { topic: 'c', data: '3', source: '' }, ...idem('k2', 'h3', 'agent-c') },
        { method: 'templates.delete', req: { id: 'missing' } },
        { method: 'events.publish', req: { topic: 'c', data: '3', source: '' }, ...idem('k2', 'h3', 'agent-c') },
      ]);
      await call('ops.prune', { table: 'idempotency_keys', before: '2000-01-01 00:00:00', chunk: 10 });
      await call('ops.prune', { table: 'idempotency_keys', before: '9999-12-31 23:59:59', chunk: 2 });
    });
    t.same(errors(run.transcript), ['ALREADY_EXISTS', 'NOT_FOUND'], 'the reused key and the failing envelope');
    t.equal(run.tables.events!.length, 3, 'one event per first write');
    t.same((run.tables.idempotency_keys as Array<{ caller: string; key: string }>).map((r) => `${r.caller} ${r.key}`), ['agent-c k2'], 'three keys stored, the oldest two pruned');
  });

  t.test('a batch: failing methods roll back alone, the others commit', async (t) => {
    const run = await check(t, 'batch', async (call, batch) => {
      await propose(call, 'p', 'dup');
      await batch([
        { method: 'rules.propose', req: { project: 'p', rule_id: 'dup', pattern: 'x', message: '', severity: 'error', match_type: 'regex', stack: '', applies_to: [], proposed_by: '', context: '' } },
        { method: 'rules.import', req: { rules: [rule('p', 'i1')] }, audit: agent },
        { method: 'webhooks.create', req: { id: 'w', url: 'http://127.0.0.1:9/', patterns: ['*'], secret: '' }, audit: agent },
        { method: 'templates.delete', req: { id: 'missing' } },
        { method: 'rules.replace', req: { project: 'r', rules: [rule('r', 'a'), rule('r', 'a')] } },
        { method: 'events.publish', req: { topic: 'x', data: 'null', source: '' } },
        { method: 'webhooks.settle', req: { webhook_id: 'w', at: '2024-05-01 10:00:00', cursor: 1, delivered: 1, dropped: 0, max_attempts: 3 } },
        { method: 'specs.put', req: { project: 'p', name: 's', data: bytes('x'), if_match: '*' } },
        { method: 'agent_metrics.add', req: { rows: [{ instance_id: 'a', metric_name: 'calls', period: '2020-01-01T00', value: 2 }] } },
        { method: 'llm.record', req: llmRecord({ instance_id: 'a', project: 'p', provider: 'x', model: 'y', tokens_in: 1, tokens_out: 2, cost_usd: 0.5, request_type: 'completion', session_tag: '' }), audit: agent },
        { method: 'ops.prune', req: { table: 'nope', before: '', chunk: 1 } },
        { method: 'webhooks.delete', req: { id: 'missing' } },
        { method: 'compliance.record', req: { runs: [{ instance_id: 'i', project: 'p', contract: 'c', pass: true, violations: '[]' }], keep: 1 } },
        { method: 'rules.decide', req: { project: 'p', rule_id: 'dup', status: 'accepted' }, audit: agent },
      ]);
    });
    t.same(errors(run.transcript), ['ALREADY_EXISTS', 'NOT_FOUND', 'INTERNAL', 'FAILED_PRECONDITION', 'INVALID_ARGUMENT', 'NOT_FOUND'], 'the failing methods failed');
    t.equal(run.tables.webhooks!.length, 1, 'the others committed');
  });
}

declare namespace Tap {
  type Test = import('tap').Test;
}
