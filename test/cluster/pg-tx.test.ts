import t from 'tap';
import type { Sql } from 'postgres';
import { PG_RECONNECT_BACKOFF_MS } from '../../src/shared/limits.js';
import { isDatabaseUnavailable, openPg } from '../../src/shared/pg.js';
import { TxClient } from '../../src/shared/pg-tx.js';
import { freshDatabase, filePostgres } from '../helpers/postgres.js';
import { waitUntil } from '../helpers/wait.js';

/**
 * Transactions that a lost connection fails, never the process (src/shared/pg-tx.ts):
 * postgres.js 3.4.9 answers a transaction whose connection closed under it by writing ROLLBACK
 * (or COMMIT) to the closed socket, which throws outside every promise. Here sessions are ended
 * under transactions: each fails as unavailable, its client is dropped, the next transaction
 * opens another; a client that cannot connect is tried again after a back-off. And a client
 * ended while its connection starts leaves no unhandled rejection (openPg, `fetch_types`).
 */
const started = await filePostgres();
if ('skipped' in started) {
  t.skip(`PostgreSQL transactions: ${started.skipped}`);
} else {
  const pg = started;
  t.teardown(() => pg.stop());
  const url = await freshDatabase(pg, 'tx');
  const admin = openPg(url, { max: 1, name: 'koor-test-admin' });
  t.teardown(() => admin.end({ timeout: 1 }));

  /** What escaped every promise while a test ran (the failures this file is about). */
  const escaped: string[] = [];
  const onEscape = (e: unknown) => escaped.push(String((e as Error)?.stack ?? e).slice(0, 300));
  process.on('uncaughtException', onEscape);
  process.on('unhandledRejection', onEscape);
  t.teardown(() => {
    process.off('uncaughtException', onEscape);
    process.off('unhandledRejection', onEscape);
  });
  /** Lets a moment pass (the driver's deferred write), then says whether anything escaped. */
  const nothingEscaped = async (t: Tap.Test) => {
    await new Promise((r) => setTimeout(r, 100));
    t.same(escaped.splice(0), [], 'nothing thrown outside a promise');
  };

  /** Ends the sessions of `name` once one of them runs pg_sleep. */
  const cutWhenSleeping = async (name: string) => {
    await waitUntil('a session asleep', async () => (await admin`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = ${name} AND wait_event = 'PgSleep'`)[0]!.n >= 1, 10_000);
    await admin`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = ${name}`;
  };
  const outcome = (p: Promise<unknown>) =>
    p.then(
      () => 'committed',
      (e: unknown) => (isDatabaseUnavailable(e) ? 'unavailable' : `failed: ${(e as Error).message}`),
    );

  t.test('a session ended mid-transaction fails it as unavailable, not the process; the next transaction reconnects', async (t) => {
    let opened = 0;
    const clients: Sql[] = [];
    const tx = new TxClient(() => {
      opened++;
      const sql = openPg(url, { max: 2, name: 'koor-test-tx' });
      clients.push(sql);
      return sql;
    });
    t.teardown(() => tx.end({ timeout: 1 }));

    // The body's statement fails with the connection: postgres.js would write ROLLBACK next.
    const failing = outcome(tx.begin('', async (q) => (await q`SELECT pg_sleep(5)`).length));
    await cutWhenSleeping('koor-test-tx');
    t.equal(await failing, 'unavailable', 'a statement cut: the transaction fails as unavailable');
    await nothingEscaped(t);

    t.equal(await outcome(tx.begin('READ ONLY', async (q) => (await q`SELECT 1 AS one`)[0]!.one)), 'committed', 'the next transaction runs');
    t.equal(opened, 2, 'on a new client');

    // The body succeeds after its session ended (it waited on something else): nor may COMMIT be written.
    const late = outcome(
      tx.begin('', async (q) => {
        await q`SELECT 1`;
        await admin`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'koor-test-tx' AND state = 'idle in transaction'`;
        await new Promise((r) => setTimeout(r, 50));
        return 1;
      }),
    );
    t.equal(await late, 'unavailable', 'a body that returns after its session ended: unavailable, nothing committed');
    await nothingEscaped(t);

    // Two transactions on one client, one session ended: both fail, the client is replaced once.
    const one = outcome(tx.begin('', async (q) => (await q`SELECT pg_sleep(5)`).length));
    const two = outcome(tx.begin('', async (q) => (await q`SELECT pg_sleep(5)`).length));
    const before = opened;
    await waitUntil('both asleep', async () => (await admin`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'koor-test-tx' AND wait_event = 'PgSleep'`)[0]!.n === 2, 10_000);
    await admin`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'koor-test-tx' AND wait_event = 'PgSleep' LIMIT 1`.catch(() => {});
    t.same(await Promise.all([one, two]), ['unavailable', 'unavailable'], 'the one cut and the other on its client fail as unavailable');
    await nothingEscaped(t);
    t.equal(await outcome(tx.begin('', async (q) => (await q`SELECT 1`).length)), 'committed', 'the next transaction runs');
    t.equal(opened, before + 1, 'on one new client');
  });

  t.test('PostgreSQL out of reach: transactions fail as unavailable, at once during the back-off, and try again after it', async (t) => {
    let opened = 0;
    const tx = new TxClient(() => (opened++, openPg('postgres://postgres@127.0.0.1:1/none', { max: 1, name: 'koor-test-tx' })));
    t.teardown(() => tx.end({ timeout: 1 }));
    const run = () => outcome(tx.begin('', async (q) => (await q`SELECT 1`).length));
    t.equal(await run(), 'unavailable');
    for (let i = 0; i < 10; i++) t.equal(await run(), 'unavailable');
    t.equal(opened, 1, 'one try for 11 transactions in a row');
    await new Promise((r) => setTimeout(r, 2 * PG_RECONNECT_BACKOFF_MS));
    await run();
    t.equal(opened, 2, 'the next try after the back-off');
    // It failed too: the next wait is twice the first. Past the first wait, within the second
    // (measured from just after the failure: a margin for the few ms before it):
    const failedAt = Date.now();
    await new Promise((r) => setTimeout(r, 1.4 * PG_RECONNECT_BACKOFF_MS));
    for (let i = 0; i < 5; i++) await run();
    const elapsed = Date.now() - failedAt;
    if (elapsed < 1.8 * PG_RECONNECT_BACKOFF_MS) {
      t.equal(opened, 2, 'no try within the doubled wait');
      await new Promise((r) => setTimeout(r, 4 * PG_RECONNECT_BACKOFF_MS));
      await run();
      t.equal(opened, 3, 'the next try after it');
    } else {
      t.comment(`the timer fired late (${elapsed} ms): the doubled wait not checked this run`);
    }
    await nothingEscaped(t);
  });

  t.test('a client ended while its connections start leaves nothing unhandled', async (t) => {
    // postgres.js fetched array types on each new connection with a query nothing awaited.
    for (let i = 0; i < 20; i++) {
      const sql = openPg(url, { max: 1, name: 'koor-test-ended' });
      const q = sql`SELECT 1`.catch(() => {});
      await new Promise((r) => setTimeout(r, i % 10));
      await sql.end({ timeout: 0 });
      await q;
    }
    await nothingEscaped(t);
  });
}
