import t from 'tap';
import { advertised, age, discoverReply, ENDPOINTS, workLoop } from '../../src/mcp/tools.js';
import type { Summary } from '../../src/domains/instances/service.js';

t.test('get_endpoints advertises exactly the endpoints whose route is mounted', async (t) => {
  const base = [
    { method: 'GET', path: '/api/state' },
    { method: 'GET', path: '/api/state/*' },
    { method: 'PUT', path: '/api/state/*' },
    { method: 'POST', path: '/api/instances/:id/activate' },
    { method: 'GET', path: '/api/specs/:project/:name' },
    { method: 'GET', path: '/api/specs/:project' },
  ];
  t.same(advertised(base), {
    state_list: 'GET /api/state',
    state_get: 'GET /api/state/{key...}',
    state_put: 'PUT /api/state/{key...}',
    specs_list: 'GET /api/specs/{project}',
    specs_get: 'GET /api/specs/{project}/{name}',
    instance_activate: 'POST /api/instances/{id}/activate',
  });
  t.notOk('state_delete' in advertised(base), 'same path, other method: not advertised');
  t.notOk('rules_export' in advertised([...base, { method: 'GET', path: '/api/rules/:project' }]), 'a parameter route does not stand in for a literal one');
  t.same(
    advertised([...base, { method: 'GET', path: '/api/rules/export' }, { method: 'POST', path: '/api/rules/import' }]),
    { ...advertised(base), rules_export: 'GET /api/rules/export', rules_import: 'POST /api/rules/import' },
    'mounting the rules routes brings their entries back',
  );
  const everything = Object.values(ENDPOINTS).map((e) => {
    const [method, path] = e.split(' ') as [string, string];
    return { method, path: path.replace('{key...}', '*').replace(/\{(\w+)\}/g, ':$1') };
  });
  t.same(advertised(everything), ENDPOINTS, 'all 16 when all are mounted');
});

t.test('the work loop names its mounted routes, grouped by method in the order agents run them', async (t) => {
  const claim = { method: 'POST', path: '/api/tasks/claim' };
  const lease = { method: 'POST', path: '/api/leases' };
  const complete = { method: 'POST', path: '/api/tasks/:id/complete' };
  const inbox = { method: 'GET', path: '/api/inbox' };
  t.equal(workLoop([inbox, complete, lease, claim]), 'POST tasks/claim, leases, tasks/{id}/complete; GET inbox');
  t.equal(workLoop([claim, inbox]), 'POST tasks/claim; GET inbox', 'a route not mounted is not named');
  t.equal(workLoop([{ method: 'GET', path: '/api/tasks/claim' }]), undefined, 'another method is not the route; nothing mounted: no loop');
});

t.test('last_seen ages', async (t) => {
  const now = Date.parse('2026-02-16T14:30:00Z');
  const at = (s: number) => new Date(now - s * 1000).toISOString().replace(/\.\d+Z$/, 'Z');
  t.same([0, 59, 60, 3599, 3600, 172_799, 172_800].map((s) => age(at(s), now)), ['0s ago', '59s ago', '1m ago', '59m ago', '1h ago', '47h ago', '2d ago']);
  t.equal(age(at(-5), now), '0s ago', 'a clock step backwards is not a negative age');
});

t.test('discover_instances reply: a table, shared values once', async (t) => {
  const now = Date.parse('2026-02-16T14:30:00Z');
  const inst = (over: Partial<Summary>): Summary => ({
    id: 'id',
    name: 'n',
    workspace: 'shop',
    intent: '',
    stack: '',
    capabilities: [],
    status: 'active',
    registered_at: '2026-02-16T14:00:00Z',
    last_seen: '2026-02-16T14:29:00Z',
    ...over,
  });
  t.same(discoverReply([], now), { count: 0, columns: ['id', 'name', 'workspace', 'intent', 'stack', 'status', 'last_seen'], instances: [] });
  t.same(discoverReply([inst({ id: 'a', capabilities: ['x'] })], now), {
    count: 1,
    columns: ['id', 'name', 'workspace', 'intent', 'stack', 'capabilities', 'status', 'last_seen'],
    instances: [['a', 'n', 'shop', '', '', ['x'], 'active', '1m ago']],
  });
  const two = discoverReply([inst({ id: 'a', name: 'ui', stack: 'react', capabilities: ['x'] }), inst({ id: 'b', name: 'api', stack: 'go', last_seen: '2026-02-16T14:29:50Z' })], now);
  t.same(two, {
    count: 2,
    workspace: 'shop',
    intent: '',
    status: 'active',
    columns: ['id', 'name', 'stack', 'capabilities', 'last_seen'],
    instances: [
      ['a', 'ui', 'react', ['x'], '1m ago'],
      ['b', 'api', 'go', [], '10s ago'],
    ],
  });
  t.notOk('registered_at' in two, 'no registered_at');
  t.same(Object.keys(discoverReply([inst({ id: 'a' }), inst({ id: 'b' })], now)), ['count', 'name', 'workspace', 'intent', 'stack', 'status', 'last_seen', 'columns', 'instances'], 'no capabilities anywhere when none has any');
});
