import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import t from 'tap';
import { startTestServer, tempDir } from '../helpers/server.js';
import { cliFor } from './helpers.js';

const CONTRACT = {
  kind: 'contract',
  version: 1,
  endpoints: {
    'POST /api/trucks': {
      request: { plate: { type: 'string', required: true }, type: { type: 'string', enum: ['semi', 'tanker'] } },
      response_status: 201,
      response: { id: { type: 'string', required: true } },
    },
    'GET /api/trucks': { response_array: { id: { type: 'string' } } },
    'DELETE /api/trucks/{id}': { response_status: 204 },
  },
};

/** A loopback backend: POST answers right, GET sends a wrong element, DELETE the wrong status. */
async function backend(t: { teardown(fn: () => unknown): void }, answers: Record<string, [number, string]>): Promise<string> {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const [status, body] = answers[`${req.method} ${req.url}`] ?? [404, ''];
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A loopback port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const srv = http.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as AddressInfo).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

t.test('contract commands', async (t) => {
  const s = await startTestServer(t);
  const dir = tempDir(t);
  const cli = cliFor(s.url, dir);
  const file = path.join(dir, 'trucks.json');
  fs.writeFileSync(file, JSON.stringify(CONTRACT));

  t.test('set: checked locally, stored as a spec', async (t) => {
    const set = await cli('contract', 'set', 'web/trucks', '--file', file);
    t.equal(set.code, 0, set.stderr);
    t.match(JSON.parse(set.stdout), { project: 'web', name: 'trucks', version: 1 });
    const notContract = await cli('contract', 'set', 'web/x', '--data', '{"kind":"openapi"}');
    t.same([notContract.code, notContract.stdout, notContract.stderr], [1, '', 'error: JSON must have "kind": "contract"\n']);
    const array = await cli('contract', 'set', 'web/x', '--data', '[{"kind":"contract"}]');
    t.same([array.code, array.stderr], [1, 'error: JSON must have "kind": "contract"\n']);
    const invalid = await cli('contract', 'set', 'web/x', '--data', '{nope');
    t.equal(invalid.code, 1);
    t.match(invalid.stderr, /^error: invalid JSON: /);
    const noBody = await cli('contract', 'set', 'web/x');
    t.equal(noBody.code, 1);
    t.match(noBody.stderr, /^error: expected --file or --data, got nothing\n/);
    t.equal((await fetch(`${s.url}/api/specs/web/x`)).status, 404, 'nothing stored by the refused ones');
  });

  t.test('get: always pretty; an error body exits 1', async (t) => {
    const get = await cli('contract', 'get', 'web/trucks');
    t.equal(get.code, 0);
    t.equal(get.stdout, `${JSON.stringify(CONTRACT, null, 2)}\n`, 'pretty, member order kept');
    const missing = await cli('contract', 'get', 'web/nope');
    t.same([missing.code, JSON.parse(missing.stdout)], [1, { error: 'spec not found: web/nope', code: 404 }]);
  });

  t.test('validate: PASS/FAIL lines and exit codes', async (t) => {
    const pass = await cli('contract', 'validate', 'web/trucks', '--endpoint', 'POST /api/trucks', '--payload', '{"plate":"AB-12","type":"semi"}');
    t.same([pass.code, pass.stdout, pass.stderr], [0, 'PASS  request POST /api/trucks\n', '']);

    const fail = await cli('contract', 'validate', 'web/trucks', '--endpoint', 'POST /api/trucks', '--payload', '{"type":"bus","color":1}');
    t.equal(fail.code, 1);
    t.equal(
      fail.stdout,
      'FAIL  request POST /api/trucks\n' +
        '  - [request.color] unexpected field "color" (contract defines: plate, type)\n' +
        '  - [request.plate] missing required field "plate"\n' +
        '  - [request.type] value "bus" not in allowed enum: [semi, tanker]\n',
    );

    const none = await cli('contract', 'validate', 'web/trucks', '--endpoint', 'POST /api/trucks');
    t.same([none.code, none.stdout], [1, 'FAIL  request POST /api/trucks\n  - [request.plate] missing required field "plate"\n'], 'no payload = {}');

    const payload = path.join(dir, 'reply.json');
    fs.writeFileSync(payload, '{"id":"t1"}');
    const resp = await cli('contract', 'validate', 'web/trucks', '--endpoint', 'POST /api/trucks', '--direction', 'response', '--file', payload);
    t.same([resp.code, resp.stdout], [0, 'PASS  response POST /api/trucks\n']);
    fs.writeFileSync(payload, '{"id":5}');
    const respFail = await cli('contract', 'validate', 'web/trucks', '--endpoint', 'GET /api/trucks', '--direction', 'response', '--file', payload);
    t.same([respFail.code, respFail.stdout], [1, 'FAIL  response GET /api/trucks\n  - [response.id] expected string, got float64\n']);

    const unknown = await cli('contract', 'validate', 'web/trucks', '--endpoint', 'PUT /x');
    t.same([unknown.code, unknown.stdout], [1, 'FAIL  request PUT /x\n  - [PUT /x] endpoint "PUT /x" not in contract\n']);

    const missing = await cli('contract', 'validate', 'web/nope', '--endpoint', 'POST /api/trucks');
    t.same([missing.code, JSON.parse(missing.stdout)], [1, { error: 'contract not found: web/nope', code: 404 }], 'non-200: the body, exit 1');

    const badPayload = await cli('contract', 'validate', 'web/trucks', '--endpoint', 'POST /api/trucks', '--payload', '[1]');
    t.same([badPayload.code, badPayload.stdout], [1, '']);
    t.match(badPayload.stderr, /^error: invalid payload JSON: expected an object, got an array\n/);
    const notJson = await cli('contract', 'validate', 'web/trucks', '--endpoint', 'POST /api/trucks', '--payload', '{x');
    t.match([notJson.code, notJson.stderr], [1, /^error: invalid payload JSON: /]);
    const noEndpoint = await cli('contract', 'validate', 'web/trucks');
    t.equal(noEndpoint.code, 1);
    t.match(noEndpoint.stderr, /--endpoint/);
  });

  t.test('test: one line per endpoint, a summary, exit 1 on any failure', async (t) => {
    const wrong = await backend(t, {
      'POST /api/trucks': [201, '{"id":"t1"}'],
      'GET /api/trucks': [200, '[{"id":"a"},{"id":5}]'],
      'DELETE /api/trucks/%7Bid%7D': [200, ''],
    });
    const r = await cli('contract', 'test', 'web/trucks', '--target', wrong);
    t.equal(r.code, 1, r.stderr);
    t.equal(
      r.stdout,
      'FAIL  DELETE /api/trucks/{id} (status: 200)\n' +
        '  - [resp] [DELETE /api/trucks/{id}] expected status 204, got 200\n' +
        'FAIL  GET /api/trucks (status: 200)\n' +
        '  - [resp] [response[1].id] expected string, got float64\n' +
        'PASS  POST /api/trucks (status: 201)\n' +
        '\n1/3 endpoints PASS, 2 FAIL\n',
    );

    const right = await backend(t, {
      'POST /api/trucks': [201, '{"id":"t1"}'],
      'GET /api/trucks': [200, '[{"id":"a"}]'],
      'DELETE /api/trucks/%7Bid%7D': [204, ''],
    });
    const ok = await cli('contract', 'test', 'web/trucks', '--target', right);
    t.same([ok.code, ok.stdout], [0, 'PASS  DELETE /api/trucks/{id} (status: 204)\nPASS  GET /api/trucks (status: 200)\nPASS  POST /api/trucks (status: 201)\n\n3/3 endpoints PASS\n']);

    // The backend is down: each endpoint fails with the server's transport error.
    const port = await closedPort();
    const down = await cli('contract', 'test', 'web/trucks', '--target', `http://127.0.0.1:${port}`);
    t.equal(down.code, 1);
    t.match(down.stdout, new RegExp(`^FAIL  DELETE /api/trucks/\\{id\\} \\(status: 0\\)\\n {2}- error: HTTP request failed: connect ECONNREFUSED 127\\.0\\.0\\.1:${port}\\n`));
    t.match(down.stdout, /\n0\/3 endpoints PASS, 3 FAIL\n$/);

    // A spec that is not a contract: each endpoint shows the server's error.
    fs.writeFileSync(file, '{"kind":"contract","endpoints":{"GET /x":{"request":5}}}');
    t.equal((await cli('specs', 'set', 'web/broken', '--file', file)).code, 0);
    const broken = await cli('contract', 'test', 'web/broken', '--target', right);
    t.same([broken.code, broken.stdout], [
      1,
      'FAIL  GET /x (status: 0)\n  - error: stored spec is not a valid contract: invalid contract JSON: endpoints.GET /x.request: expected object, got number\n\n0/1 endpoints PASS, 1 FAIL\n',
    ]);

    const missing = await cli('contract', 'test', 'web/nope', '--target', right);
    t.same([missing.code, JSON.parse(missing.stdout)], [1, { error: 'spec not found: web/nope', code: 404 }]);
    const noTarget = await cli('contract', 'test', 'web/trucks');
    t.equal(noTarget.code, 1);
    t.match(noTarget.stderr, /--target/);

    // The koor server itself unreachable: a transport error, exit 1.
    const unreachable = await cliFor(`http://127.0.0.1:${port}`, dir)('contract', 'test', 'web/trucks', '--target', right);
    t.equal(unreachable.code, 1);
    t.match(unreachable.stderr, /^error: request failed: /);
  });
});

t.test('compliance commands', async (t) => {
  const s = await startTestServer(t);
  const dir = tempDir(t);
  const cli = cliFor(s.url, dir);
  const reg = await fetch(`${s.url}/api/instances/register`, { method: 'POST', body: '{"name":"a","workspace":"web"}' }).then((r) => r.json() as Promise<{ id: string }>);
  await fetch(`${s.url}/api/instances/${reg.id}/activate`, { method: 'POST' }).then((r) => r.arrayBuffer());
  await fetch(`${s.url}/api/specs/web/api`, { method: 'PUT', body: '{"kind":"contract","endpoints":{"GET /a":{}}}' }).then((r) => r.arrayBuffer());

  const run = await cli('compliance', 'run');
  t.equal(run.code, 0, run.stderr);
  const body = JSON.parse(run.stdout);
  t.match(body, { checked: true, count: 1, runs: [{ instance_id: reg.id, project: 'web', contract: 'api', pass: false, violations: [{ path: 'endpoints.GET /a' }] }] });

  const hist = await cli('compliance', 'history', '--instance_id', reg.id, '--limit', '5');
  t.equal(hist.code, 0);
  t.same(JSON.parse(hist.stdout), body.runs);
  const pretty = await cli('compliance', 'history', '--pretty');
  t.equal(pretty.stdout, `${JSON.stringify(body.runs, null, 2)}\n`);
  const other = await cli('compliance', 'history', '--instance_id', 'someone else');
  t.same([other.code, other.stdout], [0, '[]\n'], 'values URL-encoded');
  const bad = await cli('compliance', 'history', '--limit', '0');
  t.same([bad.code, JSON.parse(bad.stdout)], [1, { error: 'limit must be a positive integer', code: 400 }], 'a 400: the error JSON on stdout, exit 1');
});
