import t from 'tap';
import uWS from 'uWebSockets.js';
import { Authenticator } from '../../src/front/auth.js';
import { AGENT, type Identity } from '../../src/http/context.js';
import { Type } from '../../schemas/typebox.js';
import { rule } from '../../src/http/permissions.js';
import { sendJson } from '../../src/http/reply.js';
import { mount } from '../../src/front/router.js';
import { Slots } from '../../src/http/slots.js';
import { createLogger } from '../../src/log.js';

/**
 * An identity the server has to look up (cluster mode: an agent registered on another node) is
 * resolved asynchronously: the request waits for it, its body is not lost meanwhile, an unknown
 * token is still refused, and the server token never waits.
 */
t.test('routes wait for an identity looked up asynchronously', async (t) => {
  const lookups: string[] = [];
  const auth = new Authenticator('server-token');
  const later = <T>(v: T) => new Promise<T>((r) => setTimeout(() => r(v), 20));
  auth.setResolvers(
    (authorization) => {
      lookups.push(authorization);
      return later(authorization === 'Bearer agent-token' ? { identity: { instanceId: 'i-1', name: 'alice' } as Identity, principal: AGENT } : null);
    },
    (id) => later(id === 'i-2' ? ({ instanceId: 'i-2', name: 'bob' } as Identity) : null),
  );
  const slots = new Slots(uWS.App());
  let calls = 0;
  mount(
    slots,
    [
      { method: 'GET', path: '/api/instances', summary: 'who', rule: rule('read', 'list agents'), replies: { 200: Type.Unknown() }, handler: (ctx) => sendJson(ctx, 200, { who: ctx.identity?.name ?? null }) },
      { method: 'POST', path: '/api/llm/usage', summary: 'who', rule: rule('write', 'record LLM usage'), replies: { 200: Type.Unknown() }, body: 'json', handler: async (ctx) => sendJson(ctx, 200, { who: ctx.identity?.name ?? null, got: ctx.json }) },
    ],
    { auth, log: createLogger('error'), maxBodyBytes: 1 << 20, viaDashboard: false, onCall: () => calls++ },
  );
  const socket = await new Promise<uWS.us_listen_socket>((resolve, reject) => slots.app.listen('127.0.0.1', 0, (s) => (s ? resolve(s) : reject(new Error('listen')))));
  t.teardown(() => uWS.us_listen_socket_close(socket));
  const base = `http://127.0.0.1:${uWS.us_socket_local_port(socket as unknown as uWS.us_socket)}`;
  const get = async (headers: Record<string, string>) => {
    const r = await fetch(`${base}/api/instances`, { headers });
    return { status: r.status, body: await r.json() };
  };

  t.same(await get({ Authorization: 'Bearer agent-token' }), { status: 200, body: { who: 'alice' } }, 'an agent token found by the lookup');
  t.same(await get({ Authorization: 'Bearer wrong' }), { status: 401, body: { error: 'invalid or missing bearer token', code: 401 } }, 'an unknown token refused');
  t.same(await get({}), { status: 401, body: { error: 'invalid or missing bearer token', code: 401 } }, 'no token refused at once');
  const before = lookups.length;
  t.same(await get({ Authorization: 'Bearer server-token', 'X-Koor-Instance': 'i-2' }), { status: 200, body: { who: 'bob' } }, 'the server token, with an instance attributed by lookup');
  t.equal(lookups.length, before, 'the server token is never looked up');
  const big = { text: 'x'.repeat(200_000) };
  const r = await fetch(`${base}/api/llm/usage`, { method: 'POST', headers: { Authorization: 'Bearer agent-token', 'Content-Type': 'application/json' }, body: JSON.stringify(big) });
  t.same(await r.json(), { who: 'alice', got: big }, 'a body that arrived while the identity was looked up is whole');
  const refused = await fetch(`${base}/api/llm/usage`, { method: 'POST', headers: { Authorization: 'Bearer wrong' }, body: JSON.stringify(big) });
  t.equal(refused.status, 401, 'a POST with an unknown token refused after the lookup');
  await refused.arrayBuffer();
  t.equal(calls, 3, 'only authorized requests counted');
});
