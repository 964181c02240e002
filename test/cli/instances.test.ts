import t from 'tap';
import { startTestServer, tempDir } from '../helpers/server.js';
import { cliFor } from './helpers.js';

interface Summary {
  id: string;
  name: string;
  workspace: string;
  intent: string;
  stack: string;
  capabilities: string[];
  status: string;
  token?: string;
}

t.test('register, activate, instances list/get/stale', async (t) => {
  const s = await startTestServer(t, { livenessTimeoutMs: 1000, livenessIntervalMs: 3_600_000 });
  const cli = cliFor(s.url, tempDir(t));

  const reg = await cli('register', 'frontend', '--workspace', '/src/web app', '--intent', 'build login & signup', '--stack', 'ts');
  t.equal(reg.code, 0, reg.stderr);
  const a = JSON.parse(reg.stdout) as Summary;
  t.match(a, { name: 'frontend', workspace: '/src/web app', intent: 'build login & signup', stack: 'ts', status: 'pending', capabilities: [] });
  t.match(a.id, /^[0-9a-f-]{36}$/);
  t.match(a.token, /^[0-9a-f-]{36}$/, 'the registration reply carries the token');
  const b = JSON.parse((await cli('register', 'backend')).stdout) as Summary;
  t.same([b.workspace, b.intent, b.stack], ['', '', ''], 'optional fields default to empty');

  const empty = await cli('register', '');
  t.same([empty.code, JSON.parse(empty.stdout)], [1, { error: 'name is required', code: 400 }]);

  const act = await cli('activate', a.id);
  t.same([act.code, JSON.parse(act.stdout)], [0, { id: a.id, status: 'active' }]);
  const actMissing = await cli('activate', 'no-such-id');
  t.same([actMissing.code, JSON.parse(actMissing.stdout)], [1, { error: 'instance not found: no-such-id', code: 404 }]);

  const get = await cli('instances', 'get', a.id);
  const got = JSON.parse(get.stdout) as Summary;
  t.same([get.code, got.status, got.token], [0, 'active', undefined], 'no token outside the registration reply');
  const getMissing = await cli('instances', 'get', 'nope');
  t.same([getMissing.code, JSON.parse(getMissing.stdout).code], [1, 404]);

  const list = JSON.parse((await cli('instances', 'list')).stdout) as Summary[];
  t.same(list.map((i) => i.name).sort(), ['backend', 'frontend']);
  const byName = JSON.parse((await cli('instances', 'list', '--name', 'frontend')).stdout) as Summary[];
  t.same(byName.map((i) => i.id), [a.id]);
  const byWorkspace = JSON.parse((await cli('instances', 'list', '--workspace', '/src/web app')).stdout) as Summary[];
  t.same(byWorkspace.map((i) => i.id), [a.id], 'filter values are URL-encoded');
  const pretty = await cli('instances', 'list', '--stack', 'none', '--pretty');
  t.equal(pretty.stdout, '[]\n');

  t.same(JSON.parse((await cli('instances', 'stale')).stdout), []);
  // last_seen has 1 s precision and the timeout is 1 s: check until the active one goes stale.
  let stale: Summary[] = [];
  for (let i = 0; i < 100 && stale.length === 0; i++) {
    await fetch(`${s.url}/api/liveness/check`, { method: 'POST' }).then((r) => r.text());
    stale = JSON.parse((await cli('instances', 'stale')).stdout) as Summary[];
    if (stale.length === 0) await new Promise((r) => setTimeout(r, 100));
  }
  t.same(stale.map((i) => [i.id, i.status]), [[a.id, 'stale']], 'the active instance went stale; the pending one never does');
});
