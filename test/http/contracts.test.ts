import http from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { startTestServer, json } from '../helpers/server.js';

const CONTRACT = {
  kind: 'contract',
  version: 1,
  endpoints: {
    'POST /api/trucks': {
      request: { plate: { type: 'string', required: true }, type: { type: 'string', enum: ['semi', 'tanker'] } },
      response_status: 201,
      response: { id: { type: 'string', required: true }, done_at: { type: 'string', nullable: true } },
      error: { message: { type: 'string', required: true } },
    },
    'GET /api/trucks': { query: { page: { type: 'number' } }, response_array: { id: { type: 'string' }, tags: { type: 'array', items: { type: 'string' } } } },
    'DELETE /api/trucks/{id}': { response_status: 204 },
    'GET /api/moved': { response: { id: { type: 'string', required: true } } },
    'GET /api/text': { response: { id: { type: 'string', required: true } } },
    'GET /api/big': { response: { id: { type: 'string', required: true } } },
    NOPATH: { request: { a: { type: 'string' } } },
  },
};

interface Seen {
  method: string;
  url: string;
  contentType: string | undefined;
  body: string;
}

/** A tiny backend on loopback that answers some endpoints right and some wrong. */
async function backend(t: { teardown(fn: () => unknown): void }): Promise<{ url: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, contentType: req.headers['content-type'], body });
      const reply = (status: number, text: string, headers: Record<string, string> = { 'content-type': 'application/json' }) => {
        res.writeHead(status, headers);
        res.end(text);
      };
      if (req.method === 'POST' && req.url === '/api/trucks') return reply(201, '{"id":"t1","done_at":null}');
      if (req.method === 'GET' && req.url === '/api/trucks') return reply(200, '[{"id":"a","tags":["x"]},{"id":5,"tags":[1]},3,{"id":"b","extra":true}]');
      if (req.method === 'DELETE' && req.url === '/api/trucks/%7Bid%7D') return reply(200, '');
      if (req.url === '/api/moved') return reply(302, '', { location: '/api/final' });
      if (req.url === '/api/final') return reply(200, '{"id":"f"}');
      if (req.url === '/api/text') return reply(200, 'hello, not JSON', { 'content-type': 'text/plain' });
      if (req.url === '/api/big') return reply(200, `{"id":7,"pad":"${'x'.repeat(11 * 1024 * 1024)}"}`);
      reply(404, '{"message":"no"}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

/** A loopback port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

t.test('contracts over HTTP', async (t) => {
  const s = await startTestServer(t);
  const put = async (p: string, body: string) => {
    const r = await fetch(`${s.url}/api/specs/${p}`, { method: 'PUT', body });
    t.equal(r.status, 200, `PUT ${p}`);
    await r.arrayBuffer();
  };
  const post = async (p: string, body: unknown) => {
    const r = await fetch(`${s.url}/api/contracts/${p}`, { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body) });
    return [r.status, await json(r)] as const;
  };
  await put('web/trucks', JSON.stringify(CONTRACT));
  await put('web/notes', 'free text');
  await put('web/other', '{"kind":"openapi","endpoints":{"a":{}}}');
  await put('web/empty', '{"kind":"contract","endpoints":{}}');
  await put('web/shape', '{"kind":"contract","endpoints":{"GET /a":{"request":[]}}}');

  t.test('validate: spec errors first, then the body', async (t) => {
    for (const route of ['validate', 'test']) {
      t.same(await post(`web/nope/${route}`, {}), [404, { error: 'contract not found: web/nope', code: 404 }]);
      const [st, body] = await post(`web/notes/${route}`, {});
      t.equal(st, 400);
      t.match(body.error, /^stored spec is not a valid contract: invalid contract JSON: /);
      t.same(await post(`web/other/${route}`, {}), [400, { error: 'stored spec is not a valid contract: expected kind "contract", got "openapi"', code: 400 }]);
      t.same(await post(`web/empty/${route}`, { endpoint: 'GET /a' }), [400, { error: 'stored spec is not a valid contract: contract has no endpoints', code: 400 }]);
      t.same(await post(`web/shape/${route}`, { endpoint: 'GET /a' }), [400, { error: 'stored spec is not a valid contract: invalid contract JSON: endpoints.GET /a.request: expected object, got array', code: 400 }]);
      t.same(await post(`web/trucks/${route}`, {}), [400, { error: 'endpoint is required', code: 400 }]);
      t.same(await post(`web/trucks/${route}`, { endpoint: '' }), [400, { error: 'endpoint is required', code: 400 }]);
      t.same(await post(`web/trucks/${route}`, 'not json'), [400, { error: 'invalid JSON body', code: 400 }]);
      t.same(await post(`web/trucks/${route}`, { endpoint: 5 }), [400, { error: 'endpoint: expected string', code: 400 }]);
    }
    t.same(await post('web/trucks/validate', { endpoint: 'POST /api/trucks', payload: [1] }), [400, { error: 'payload: expected object or null', code: 400 }]);
    t.same(await post('web/trucks/test', { endpoint: 'POST /api/trucks', base_url: 'http://x', test_data: 'x' }), [400, { error: 'test_data: expected object or null', code: 400 }]);
  });

  t.test('validate: payloads', async (t) => {
    const v = (endpoint: string, payload?: unknown, direction?: string) => post('web/trucks/validate', { endpoint, ...(direction === undefined ? {} : { direction }), ...(payload === undefined ? {} : { payload }) });
    t.same(await v('POST /api/trucks', { plate: 'AB-12', type: 'semi' }), [200, { valid: true, violations: [] }], 'direction defaults to request');
    t.same(await v('POST /api/trucks', { plate: 'AB-12' }, ''), [200, { valid: true, violations: [] }], 'empty direction = request');
    t.same(await v('POST /api/trucks'), [200, { valid: false, violations: [{ path: 'request.plate', message: 'missing required field "plate"' }] }], 'absent payload = {}');
    t.same(await v('POST /api/trucks', null), [200, { valid: false, violations: [{ path: 'request.plate', message: 'missing required field "plate"' }] }], 'null payload = {}');
    t.same(await v('POST /api/trucks', { plate: null, type: 'bus', color: 'red', axles: 3 }), [
      200,
      {
        valid: false,
        violations: [
          { path: 'request.axles', message: 'unexpected field "axles" (contract defines: plate, type)' },
          { path: 'request.color', message: 'unexpected field "color" (contract defines: plate, type)' },
          { path: 'request.plate', message: 'field "plate" is null but not nullable' },
          { path: 'request.type', message: 'value "bus" not in allowed enum: [semi, tanker]' },
        ],
      },
    ]);
    t.same(await v('POST /api/trucks', { id: 'x', done_at: null }, 'response'), [200, { valid: true, violations: [] }]);
    t.same(await v('POST /api/trucks', { message: 1 }, 'error'), [200, { valid: false, violations: [{ path: 'error.message', message: 'expected string, got float64' }] }]);
    t.same(await v('GET /api/trucks', { page: '2' }, 'query'), [200, { valid: false, violations: [{ path: 'query.page', message: 'expected number, got string' }] }]);
    t.same(await v('GET /api/trucks', { id: 1, tags: ['a', 2] }, 'response'), [
      200,
      { valid: false, violations: [{ path: 'response.id', message: 'expected string, got float64' }, { path: 'response.tags[1]', message: 'expected string, got float64' }] },
    ], 'response falls back to response_array');
    t.same(await v('GET /api/trucks', {}, 'request'), [200, { valid: false, violations: [{ path: 'GET /api/trucks', message: 'endpoint "GET /api/trucks" has no request definition' }] }]);
    t.same(await v('PUT /api/x', {}), [200, { valid: false, violations: [{ path: 'PUT /api/x', message: 'endpoint "PUT /api/x" not in contract' }] }]);
    t.same(await v('POST /api/trucks', {}, 'body'), [200, { valid: false, violations: [{ path: 'body', message: 'unknown direction "body" (use request, response, query, or error)' }] }]);
    // A contract replaced under the same name is checked as the new version (cache keyed by hash).
    await put('web/v', '{"kind":"contract","endpoints":{"e":{"request":{"a":{"type":"string"}}}}}');
    t.same((await post('web/v/validate', { endpoint: 'e', payload: { a: 1 } }))[1].violations, [{ path: 'request.a', message: 'expected string, got float64' }]);
    await put('web/v', '{"kind":"contract","endpoints":{"e":{"request":{"a":{"type":"number"}}}}}');
    t.same((await post('web/v/validate', { endpoint: 'e', payload: { a: 1 } }))[1], { valid: true, violations: [] });
  });

  t.test('test: a live backend answering right and wrong', async (t) => {
    const b = await backend(t);
    const test = (endpoint: string, extra: Record<string, unknown> = {}) => post('web/trucks/test', { endpoint, base_url: `${b.url}/`, ...extra });

    t.same(await post('web/trucks/test', { endpoint: 'POST /api/trucks' }), [400, { error: 'base_url is required', code: 400 }]);
    t.same(await test('PUT /api/none'), [400, { error: 'endpoint "PUT /api/none" not in contract', code: 400 }]);
    t.same(await test('NOPATH'), [400, { error: 'invalid endpoint format "NOPATH" (expected "METHOD /path")', code: 400 }]);
    t.equal(b.seen.length, 0, 'refused requests never reach the backend');

    t.same(await test('POST /api/trucks', { test_data: { plate: 'AB-12' } }), [
      200,
      { valid: true, endpoint: 'POST /api/trucks', status_code: 201, request_violations: [], response_violations: [], error: '' },
    ]);
    t.same(b.seen.at(-1), { method: 'POST', url: '/api/trucks', contentType: 'application/json', body: '{"plate":"AB-12"}' }, 'test_data sent as the JSON body, base_url trailing / trimmed');

    t.same(await test('POST /api/trucks', { test_data: { plate: 7 } }), [
      200,
      { valid: false, endpoint: 'POST /api/trucks', status_code: 201, request_violations: [{ path: 'request.plate', message: 'expected string, got float64' }], response_violations: [], error: '' },
    ], 'request violations reported, the request still sent');
    t.equal(b.seen.at(-1)!.body, '{"plate":7}');

    t.same(await test('POST /api/trucks'), [200, { valid: true, endpoint: 'POST /api/trucks', status_code: 201, request_violations: [], response_violations: [], error: '' }]);
    t.same(b.seen.at(-1), { method: 'POST', url: '/api/trucks', contentType: undefined, body: '' }, 'no test_data: no body');

    t.same(await test('GET /api/trucks', { test_data: { page: 1 } }), [
      200,
      {
        valid: false,
        endpoint: 'GET /api/trucks',
        status_code: 200,
        request_violations: [],
        response_violations: [
          { path: 'response[1].id', message: 'expected string, got float64' },
          { path: 'response[1].tags[0]', message: 'expected string, got float64' },
          { path: 'response[2]', message: 'expected object, got non-object' },
          { path: 'response[3].extra', message: 'unexpected field "extra" (contract defines: id, tags)' },
        ],
        error: '',
      },
    ], 'array reply checked element by element; no request section, so test_data is not checked');
    t.same(b.seen.at(-1), { method: 'GET', url: '/api/trucks', contentType: undefined, body: '' }, 'GET carries no body');

    t.same(await test('DELETE /api/trucks/{id}'), [
      200,
      { valid: false, endpoint: 'DELETE /api/trucks/{id}', status_code: 200, request_violations: [], response_violations: [{ path: 'DELETE /api/trucks/{id}', message: 'expected status 204, got 200' }], error: '' },
    ], 'path sent as written, {id} not substituted');
    t.equal(b.seen.at(-1)!.url, '/api/trucks/%7Bid%7D');

    t.same((await test('GET /api/moved'))[1], { valid: true, endpoint: 'GET /api/moved', status_code: 200, request_violations: [], response_violations: [], error: '' }, 'redirect followed');
    t.same(b.seen.slice(-2).map((x) => x.url), ['/api/moved', '/api/final']);
    t.same((await test('GET /api/text'))[1], { valid: true, endpoint: 'GET /api/text', status_code: 200, request_violations: [], response_violations: [], error: '' }, 'unparseable reply ignored');
    t.same((await test('GET /api/big'))[1].response_violations, [], 'a reply over 10 MiB is cut there (then unparseable, ignored)');

    const port = await closedPort();
    const [st, down] = await post('web/trucks/test', { endpoint: 'GET /api/trucks', base_url: `http://127.0.0.1:${port}` });
    t.equal(st, 200);
    t.match(down, { valid: false, endpoint: 'GET /api/trucks', status_code: 0, request_violations: [], response_violations: [] });
    t.match(down.error, new RegExp(`^HTTP request failed: connect ECONNREFUSED 127\\.0\\.0\\.1:${port}$`));
    const [, bad] = await post('web/trucks/test', { endpoint: 'GET /api/trucks', base_url: 'not a url' });
    t.match(bad, { valid: false, status_code: 0, error: /^HTTP request failed: / });
  });
});
