import t from 'tap';
import { PG_RECONNECT_BACKOFF_MAX_MS, PG_RECONNECT_BACKOFF_MS } from '../../src/shared/limits.js';
import { reconnectWaitMs } from '../../src/shared/pg-errors.js';
import { reconnectDelayS } from '../../src/shared/pg.js';

/**
 * One reconnect back-off for every loop that reaches PostgreSQL (kept as one rule in
 * stop 63): postgres.js's hook (reconnectDelayS, by the count of closes with an error), the
 * writer's driver and the front's transaction client (reconnectWaitMs, by failed tries in a row).
 */
t.test('the wait doubles from the base to the max, and postgres.js is given the same one', async (t) => {
  const waits = Array.from({ length: 8 }, (_, n) => reconnectWaitMs(n));
  t.same(waits.slice(0, 5), [1, 2, 4, 8, 16].map((k) => k * PG_RECONNECT_BACKOFF_MS));
  t.equal(Math.max(...waits), PG_RECONNECT_BACKOFF_MAX_MS, 'capped');
  t.equal(reconnectWaitMs(10_000), PG_RECONNECT_BACKOFF_MAX_MS, 'a long outage stays at the max (no Infinity, no NaN)');
  for (let n = 0; n < 12; n++) t.equal(reconnectDelayS(n) * 1000, reconnectWaitMs(n), `postgres.js's wait after ${n}`);
});
