import t from 'tap';
import { parseBind } from '../../src/config.js';
import { exposedWithoutToken, isLoopbackHost } from '../../src/front/listen.js';

/** Open mode is for a single-user laptop: which listen addresses the start-up warning names. */
t.test('loopback hosts', async (t) => {
  for (const h of ['localhost', 'LOCALHOST', '127.0.0.1', '127.1.2.3', '::1', '[::1]']) t.ok(isLoopbackHost(h), h);
  for (const h of ['0.0.0.0', '::', '[::]', '192.168.1.10', '10.0.0.1', 'koor.lan', '128.0.0.1', '']) t.notOk(isLoopbackHost(h), h || '(empty: every interface)');
});

t.test('the warning names each exposed listener, and none with a token', async (t) => {
  const c = (bind: string, dash: string | null, authToken = '') => ({ authToken, bind: parseBind(bind, 'bind'), dashboardBind: dash === null ? null : parseBind(dash, 'dashboard-bind') });
  t.same(exposedWithoutToken(c('localhost:9800', 'localhost:9847')), []);
  t.same(exposedWithoutToken(c('0.0.0.0:9800', '127.0.0.1:9847')), ['0.0.0.0:9800']);
  t.same(exposedWithoutToken(c(':9800', null)), [':9800'], 'no host: every interface');
  t.same(exposedWithoutToken(c('0.0.0.0:9800', '0.0.0.0:9847', 'secret')), [], 'a token: no warning');
});
