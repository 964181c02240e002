import t from 'tap';
import { openPg } from '../../src/shared/pg.js';
import { freshDatabase, providePostgres } from '../helpers/postgres.js';
import { spawnServer, type ServerProcess } from '../helpers/server.js';
import { waitUntil } from '../helpers/wait.js';

/**
 * A node's writer thread meets PostgreSQL going away under write load — its sessions
 * ended by pg_terminate_backend, then a `pg_ctl restart -m fast` — and lives on: the writer is
 * never restarted (koor_writer_restarts_total stays 0), every acknowledged write is there, every
 * write answered 503 is not (504, outcome unknown, may be either), writes are acknowledged again
 * soon after PostgreSQL is back, and a node leads again (koor_cluster_leader).
 */
const started = await providePostgres();
if ('skipped' in started) {
  t.skip(`PostgreSQL restart under write load: ${started.skipped}`);
} else {
  const pg = started;
  t.teardown(() => pg.stop());

  const node = async (t: Tap.Test, database: string): Promise<ServerProcess> => {
    const s = await spawnServer(['--database', database]);
    t.teardown(() => {
      s.child.kill('SIGKILL');
    });
    return s;
  };

  /** A figure of a node's /metrics (Prometheus text); asked again while the node does not answer. */
  const metric = (s: ServerProcess, name: string): Promise<number> =>
    waitUntil(
      `${name} from ${s.url}`,
      async () => {
        try {
          const text = await (await fetch(`${s.url}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
          const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
          return m ? Number(m[1]) : undefined;
        } catch {
          return undefined;
        }
      },
      15_000,
      200,
    );

  /** Log lines that say a thread or the process failed (shown when a check fails). */
  const crashes = (s: ServerProcess): string =>
    s
      .stderr()
      .split('\n')
      .filter((l) => /writer worker|"level":(50|60)|uncaught|unhandled|TypeError/i.test(l))
      .join('\n')
      .slice(0, 3000);

  t.test('PostgreSQL going away under write load: no thread dies, 503 only when nothing committed, writes and the lead come back', async (t) => {
    const database = await freshDatabase(pg, 'restart');
    const nodes = [await node(t, database), await node(t, database)];
    await waitUntil('a node leads', async () => (await Promise.all(nodes.map((n) => metric(n, 'koor_cluster_leader')))).includes(1), 15_000, 200);

    /** Each write's key → its status and error message; each key is written once. */
    const outcomes = new Map<string, { status: number; code: string }>();
    let acked = 0;
    let stop = false;
    const client = async (c: number) => {
      for (let i = 0; !stop; i++) {
        const key = `r-${c}-${i}`;
        let status = 0;
        let code = '';
        try {
          const r = await fetch(`${nodes[c % nodes.length]!.url}/api/state/${key}`, { method: 'PUT', body: key, signal: AbortSignal.timeout(20_000) });
          status = r.status;
          const text = await r.text();
          // The error's message names it (the body's `code` is the HTTP status).
          if (status !== 200) code = (JSON.parse(text) as { error?: string }).error ?? text.slice(0, 80);
        } catch (e) {
          code = (e as Error).message;
        }
        outcomes.set(key, { status, code });
        if (status === 200) acked++;
        else await new Promise((r) => setTimeout(r, 20));
      }
    };
    const load = Promise.all(Array.from({ length: 6 }, (_, c) => client(c)));
    const ackedAgain = async (what: string) => {
      const before = acked;
      const since = Date.now();
      await waitUntil(what, () => acked >= before + 100, 15_000);
      return Date.now() - since;
    };

    try {
      await ackedAgain('writes flowing');
      // Every session of the nodes ended under them (as a failover or an operator's kill does).
      const admin = openPg(pg.url, { max: 1, name: 'koor-test-admin' });
      try {
        await admin`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = ${database.replace(/^.*\//, '')} AND pid <> pg_backend_pid()`;
      } finally {
        await admin.end({ timeout: 1 });
      }
      t.pass(`writes acknowledged again ${await ackedAgain('writes acknowledged again after the sessions were ended')} ms after the sessions were ended`);
      await pg.restartAsync(500);
      t.pass(`writes acknowledged again ${await ackedAgain('writes acknowledged again after the restart')} ms after PostgreSQL was back`);
    } finally {
      stop = true;
      await load;
    }

    for (const [i, n] of nodes.entries()) {
      t.equal(n.child.exitCode, null, `node ${i} lives on`);
      const restarts = await metric(n, 'koor_writer_restarts_total');
      t.equal(restarts, 0, `node ${i}: its writer thread never died ${restarts === 0 ? '' : crashes(n)}`);
    }
    const by = new Map<string, number>();
    for (const o of outcomes.values()) by.set(`${o.status} ${o.code}`, (by.get(`${o.status} ${o.code}`) ?? 0) + 1);
    const answers = [...by].map(([k, n]) => `${k}: ${n}`).join(', ');
    t.ok([...by.keys()].some((k) => k.startsWith('503')), `some writes failed while PostgreSQL was away (${answers})`);
    const expected = (k: string) => k === '200 ' || k === '503 database unavailable' || /^504 [\w.]+: outcome unknown/.test(k);
    const unexpected = [...by.keys()].filter((k) => !expected(k));
    t.same(unexpected, [], `answers are 200, 503 (nothing committed) or 504 (outcome unknown) only (${answers})`);

    const reader = openPg(`${database}`, { max: 1, name: 'koor-test-reader' });
    try {
      const stored = new Set((await reader<{ key: string }[]>`SELECT key FROM state`).map((r) => r.key));
      const lost = [...outcomes].filter(([k, o]) => o.status === 200 && !stored.has(k)).map(([k]) => k);
      const phantom = [...outcomes].filter(([k, o]) => o.status === 503 && stored.has(k)).map(([k]) => k);
      t.same(lost, [], `every one of ${acked} acknowledged writes is stored`);
      t.same(phantom, [], 'no write answered 503 is stored (a 503 means it did not commit)');
    } finally {
      await reader.end({ timeout: 1 });
    }

    // The lead is lost with the restart (the leader's session went with it) and taken again: the
    // leader learns it at its next check, up to a second after PostgreSQL is back, so this waits
    // for both in the nodes' logs before asking who leads (earlier, the old leader could still
    // answer for the lead it had not yet found gone).
    const said = (msg: string) => nodes.reduce((sum, n) => sum + n.stderr().split('\n').filter((l) => l.includes(msg)).length, 0);
    await waitUntil('the lead lost and taken again', () => said('no longer the leader') >= 1 && said('elected leader') >= 2, 15_000, 200).catch(() => undefined);
    t.ok(said('no longer the leader') >= 1 && said('elected leader') >= 2, `the lead was lost with PostgreSQL and taken again (elected ${said('elected leader')} times)`);
    // Then it is held by exactly one node.
    const leaders = await waitUntil(
      'a node leads again',
      async () => {
        const l = await Promise.all(nodes.map((n) => metric(n, 'koor_cluster_leader')));
        return l.filter((v) => v === 1).length === 1 && l.every((v) => v === 0 || v === 1) ? l : undefined;
      },
      15_000,
      200,
    );
    t.same([...leaders].sort(), [0, 1], 'exactly one node leads after the restart');
  });
}
