import t from 'tap';
import WebSocket from 'ws';
import { openPg } from '../../src/shared/pg.js';
import { CLOSE_REPLAY_FAILED } from '../../src/bus/closes.js';
import { freshDatabase, providePostgres } from '../helpers/postgres.js';
import { spawnServer, type ServerProcess } from '../helpers/server.js';
import { waitUntil } from '../helpers/wait.js';
import { publish, subscribe } from '../helpers/ws.js';

/**
 * A node's reads meet PostgreSQL going away. The reads that take one snapshot — the
 * audit summary and a message with its receipts (`consistent`), a subscription's replay
 * (`window`) — run in a read-only transaction; postgres.js 3.4.9 answers such a transaction that
 * fails after its connection closed by writing ROLLBACK to the closed socket, which throws
 * outside every promise (porsager/postgres#1208, #1154) and ended the whole node process. Here
 * the node's sessions are ended in the middle of those transactions, then PostgreSQL restarts
 * under read load on two nodes: no node dies, a read meanwhile answers 200 or 503
 * (`database unavailable`), reads answer again by themselves, LISTEN is back (pushes reach
 * subscribers), and a node leads again.
 */
const started = await providePostgres();
if ('skipped' in started) {
  t.skip(`PostgreSQL going away under reads: ${started.skipped}`);
} else {
  const pg = started;
  t.teardown(() => pg.stop());

  const database = await freshDatabase(pg, 'reads');
  const dbName = database.replace(/^.*\//, '');
  const admin = openPg(database, { max: 1, name: 'koor-test-admin' });
  t.teardown(() => admin.end({ timeout: 1 }));

  const spawned: ServerProcess[] = [];
  t.teardown(() => {
    for (const s of spawned) s.child.kill('SIGKILL');
  });
  const [a, b] = await Promise.all([spawnServer(['--database', database]), spawnServer(['--database', database])]);
  spawned.push(a!, b!);

  /** Log lines that say the process or a thread failed (shown when a node died). */
  const crashes = (s: ServerProcess): string =>
    s
      .stderr()
      .split('\n')
      .filter((l) => /uncaught|unhandled|TypeError|"level":60|writer worker/i.test(l))
      .join('\n')
      .slice(0, 2000);
  const alive = (t: Tap.Test, s: ServerProcess, name: string) => t.equal(s.child.exitCode, null, `${name} lives on ${s.child.exitCode === null ? '' : crashes(s)}`);

  /** An HTTP read: its status and body text; no answer at all (the node gone) is status 0. */
  const get = async (base: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; text: string }> => {
    try {
      const r = await fetch(`${base}${path}`, { headers, signal: AbortSignal.timeout(15_000) });
      return { status: r.status, text: await r.text() };
    } catch (e) {
      return { status: 0, text: `${(e as Error).message} ${String((e as { cause?: unknown }).cause ?? '')}` };
    }
  };
  const post = async (base: string, path: string, body: unknown, headers: Record<string, string> = {}) => {
    const r = await fetch(`${base}${path}`, { method: 'POST', headers, body: Buffer.from(JSON.stringify(body)) as unknown as BodyInit });
    const text = await r.text();
    if (r.status !== 200) throw new Error(`POST ${path}: ${r.status} ${text}`);
    return JSON.parse(text);
  };
  /** A 503 as every route gives it: JSON naming the cause. */
  const unavailable = (r: { status: number; text: string }) => r.status === 503 && r.text.trim() === JSON.stringify({ error: 'database unavailable', code: 503 });

  /**
   * A subscription from the first event (`since=0`): its replay reads the log in `window`
   * snapshots. 'replayed' once every one of `n` events came, 'replay failed' when the node
   * closed it for a failed read (1011), 'refused 503' when the upgrade's own read failed, else
   * what happened.
   */
  const replay = (base: string, n: number): Promise<string> =>
    new Promise((resolve) => {
      const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/api/events/subscribe?pattern=*&since=0`);
      let got = 0;
      const timer = setTimeout(() => (ws.terminate(), resolve(`${got} of ${n} events in 15 s`)), 15_000);
      const done = (what: string) => {
        clearTimeout(timer);
        ws.terminate();
        resolve(what);
      };
      ws.on('message', () => ++got >= n && done('replayed'));
      ws.on('close', (code) => done(code === CLOSE_REPLAY_FAILED ? 'replay failed' : `closed ${code} after ${got} events`));
      ws.on('unexpected-response', (_req, res) => done(res.statusCode === 503 ? 'refused 503' : `upgrade refused ${res.statusCode}`));
      ws.on('error', (e) => done(`error ${e.message}`));
    });

  // Two agents, a message between them, events in the log, audit entries.
  const ann = await post(a!.url, '/api/instances/register', { name: 'ann', workspace: '/w/ann' });
  const ben = await post(a!.url, '/api/instances/register', { name: 'ben', workspace: '/w/ben' });
  const message = await post(a!.url, '/api/messages', { to: [ben.id], body: 'before' }, { 'x-koor-instance': ann.id });
  for (let i = 0; i < 5; i++) await publish(a!.url, `seed.${i}`, { i });
  const EVENTS = Number(JSON.parse((await get(a!.url, '/api/events/history?last=1')).text)[0].id);

  /** The snapshot reads, and a plain one, as a node answers them when PostgreSQL is there. */
  const reads = {
    audit: (base: string) => get(base, '/api/audit/summary'),
    message: (base: string) => get(base, `/api/messages/${message.id}`, { 'x-koor-instance': ben.id }),
    plain: (base: string) => get(base, `/api/instances/${ann.id}`),
  };

  /**
   * ACCESS EXCLUSIVE locks on `tables` (comma-separated), held in a transaction on a connection of
   * the test's own; resolves once every one is granted, to `unlock`: it ends the transaction and
   * the connection (once, however often called) and rejects when the transaction failed.
   */
  const holdLocks = async (tables: string): Promise<() => Promise<void>> => {
    const locker = openPg(database, { max: 1, name: 'koor-test-locker' });
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    const locked = locker.begin(async (tx) => {
      await tx.unsafe(`LOCK TABLE ${tables} IN ACCESS EXCLUSIVE MODE`);
      await released;
    });
    let ended: Promise<void> | undefined;
    const unlock = (): Promise<void> => (ended ??= (release(), locked.then(() => undefined).finally(() => locker.end({ timeout: 1 }))));
    try {
      const want = tables.split(',').length;
      await waitUntil('the locks held', async () => (await admin`SELECT count(*)::int AS n FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE a.application_name = 'koor-test-locker' AND l.mode = 'AccessExclusiveLock' AND l.granted`)[0]!.n >= want);
    } catch (e) {
      await unlock().catch(() => {});
      throw e;
    }
    return unlock;
  };

  t.test('sessions ended in the middle of snapshot reads: the node lives, those reads answer 503, the next ones 200', async (t) => {
    for (const [name, read] of Object.entries(reads)) t.equal((await read(a!.url)).status, 200, `${name}: answered before`);
    t.equal(await replay(a!.url, EVENTS), 'replayed', 'a replay: answered before');

    // Each read waits inside its transaction for a lock this test holds, so that the node's
    // sessions end in the middle of them (a replay's first statement reads koor_counters).
    const unlock = await holdLocks('audit_log, messages, koor_counters');
    try {
      const audit = reads.audit(a!.url);
      const msg = reads.message(a!.url);
      const replayed = replay(a!.url, EVENTS);
      const waiting = (like: string) => admin`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = ${dbName} AND wait_event_type = 'Lock' AND query LIKE ${like}`;
      await waitUntil(
        'the three reads waiting on the lock inside their transactions',
        async () => (await Promise.all(['%FROM audit_log%', '%FROM messages%', '%(SELECT min(id) FROM events) AS oldest%'].map(waiting))).every((r) => r[0]!.n >= 1),
        10_000,
      );
      await admin`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = ${dbName} AND application_name NOT LIKE 'koor-test-%'`;
      await unlock();

      const [auditR, msgR, replayR] = await Promise.all([audit, msg, replayed]);
      t.ok(unavailable(auditR), `the audit summary cut: 503 database unavailable (${auditR.status} ${auditR.text})`);
      t.ok(unavailable(msgR), `the message read cut: 503 database unavailable (${msgR.status} ${msgR.text})`);
      t.equal(replayR, 'replay failed', 'the replay cut: closed 1011, to resume with since=');
    } finally {
      await unlock().catch(() => {});
    }
    // The driver's failure came a moment after the answers, when it did: give it that moment.
    await new Promise((r) => setTimeout(r, 300));
    if (!alive(t, a!, 'the node')) return;
    for (const [name, read] of Object.entries(reads)) {
      await waitUntil(`${name} answered again`, async () => (await read(a!.url)).status === 200, 10_000, 100);
      t.pass(`${name}: answered again`);
    }
    t.equal(await replay(a!.url, EVENTS), 'replayed', 'a replay: answered again');
  });

  t.test('--pg-connections bounds a node\'s connections: reads held up queue on its pool, never open more', async (t) => {
    const c = await spawnServer(['--database', database, '--pg-connections', '3']);
    spawned.push(c);
    const pid = c.child.pid!;
    const mine = (app: string) =>
      admin<{ n: number }[]>`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = ${dbName} AND application_name = ${app} AND wait_event_type = 'Lock'`.then((r) => r[0]!.n);
    const unlock = await holdLocks('audit_log');
    try {
      // Ten plain reads of the audit log (the read pool) and four summaries (read transactions).
      const held = [...Array.from({ length: 10 }, () => get(c.url, '/api/audit?limit=1')), ...Array.from({ length: 4 }, () => reads.audit(c.url))];
      await waitUntil('the read pool full and a read transaction waiting', async () => (await mine('koor-reader')) === 3 && (await mine('koor-snapshot')) === 1, 10_000);
      await new Promise((r) => setTimeout(r, 500));
      t.equal(await mine('koor-reader'), 3, 'reads waiting on the lock: 3 connections, the pool size, for 10 reads');
      t.equal(await mine('koor-snapshot'), 1, 'read transactions waiting: 1 connection (half of 3, rounded down), for 4');
      await unlock();
      const answers = await Promise.all(held);
      t.same([...new Set(answers.map((r) => r.status))], [200], 'every queued read answered once the lock went');
      t.equal(c.child.pid, pid, 'the same node');
    } finally {
      await unlock().catch(() => {});
      c.child.kill('SIGKILL');
    }
  });

  t.test('a read the database holds up answers 503 at --read-deadline, and the next one 200', async (t) => {
    const c = await spawnServer(['--database', database, '--read-deadline', '1500ms']);
    spawned.push(c);
    t.equal((await reads.plain(c.url)).status, 200, 'answered before');
    const unlock = await holdLocks('instances');
    try {
      const t0 = Date.now();
      const r = await reads.plain(c.url);
      const took = Date.now() - t0;
      t.ok(unavailable(r), `503 database unavailable (${r.status} ${r.text})`);
      t.ok(took >= 1000 && took < 8000, `at the deadline, not before and not held: ${took} ms`);
    } finally {
      await unlock().catch(() => {});
    }
    t.equal((await reads.plain(c.url)).status, 200, 'the lock gone, the next read answers 200');
    alive(t, c, 'the node');
    // Gone before the next test, which counts the nodes' LISTEN sessions.
    const gone = new Promise((r) => c.child.once('exit', r));
    c.child.kill('SIGKILL');
    await gone;
  });

  t.test('PostgreSQL restarted under read load on two nodes: no node dies, reads answer 200 or 503 and come back; LISTEN and the lead come back', async (t) => {
    const nodes = [a!, b!];
    if (!nodes.every((n, i) => alive(t, n, `node ${i}, before`))) return;
    // Live subscribers on A, kept across the restart: events and ben's inbox.
    const live = await subscribe(a!.url, '?pattern=after.*');
    t.teardown(() => live.ws.terminate());
    const inbox: string[] = [];
    const inboxWs = new WebSocket(`${a!.url.replace(/^http/, 'ws')}/api/inbox/subscribe`, { headers: { 'x-koor-instance': ben.id } });
    t.teardown(() => inboxWs.terminate());
    inboxWs.on('message', (m) => inbox.push((JSON.parse(m.toString()) as { body: string }).body));
    await new Promise((resolve, reject) => (inboxWs.once('open', resolve), inboxWs.once('error', reject)));

    /** What each kind of read answered, by answer; and when each last answered 200. */
    const seen = new Map<string, Map<string, number>>();
    const lastOk = new Map<string, number>();
    const note = (kind: string, answer: string) => {
      const m = seen.get(kind) ?? new Map<string, number>();
      seen.set(kind, m.set(answer, (m.get(answer) ?? 0) + 1));
      if (answer === '200' || answer === 'replayed') lastOk.set(kind, Date.now());
    };
    let stop = false;
    const loop = async (c: number) => {
      const base = nodes[c % nodes.length]!.url;
      while (!stop) {
        for (const [kind, read] of Object.entries(reads)) {
          const r = await read(base);
          note(kind, r.status === 200 ? '200' : unavailable(r) ? '503' : `${r.status} ${r.text.slice(0, 120)}`);
        }
        note('replay', await replay(base, EVENTS));
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    const load = Promise.all(Array.from({ length: 6 }, (_, c) => loop(c)));
    const allAnswerSince = (since: number, what: string) =>
      waitUntil(what, () => ['audit', 'message', 'plain', 'replay'].every((k) => (lastOk.get(k) ?? 0) > since), 15_000, 50);
    try {
      await allAnswerSince(Date.now(), 'every read answering');
      await pg.restartAsync(500);
      const back = Date.now();
      await allAnswerSince(back, 'every read answering again after the restart');
      t.pass(`every kind of read answered again ${Date.now() - back} ms after PostgreSQL was back`);
    } finally {
      stop = true;
      await load;
    }
    for (const [i, n] of nodes.entries()) alive(t, n, `node ${i}`);
    const answers = [...seen].map(([k, m]) => `${k}: ${[...m].map(([a, n]) => `${a} ×${n}`).join(', ')}`).join('; ');
    const unexpected = [...seen].flatMap(([k, m]) => [...m.keys()].filter((a) => !['200', '503', 'replayed', 'replay failed', 'refused 503'].includes(a)).map((a) => `${k} ${a}`));
    t.same(unexpected, [], `reads answer 200 or 503 database unavailable, replays complete, close 1011 or are refused 503 (${answers})`);
    t.ok([...seen.values()].some((m) => m.has('503') || m.has('replay failed') || m.has('refused 503')), `some reads failed while PostgreSQL was away (${answers})`);

    // LISTEN again on both nodes: its session is back, and another node's commits reach A's subscribers.
    await waitUntil('a LISTEN session per node', async () => (await admin`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = ${dbName} AND query ILIKE 'listen %'`)[0]!.n === nodes.length, 10_000, 100);
    await publish(b!.url, 'after.restart', { via: 'b' });
    await live.waitFor(1, 10_000);
    t.equal(live.events[0]!.topic, 'after.restart', 'an event published through B reaches a subscriber on A');
    await post(b!.url, '/api/messages', { to: [ben.id], body: 'after' }, { 'x-koor-instance': ann.id });
    await waitUntil('the message pushed to ben on A', () => inbox.includes('after'), 10_000, 50);
    t.pass('a message sent through B is pushed to its recipient’s inbox stream on A');

    const leaders = await waitUntil(
      'exactly one node leading',
      async () => {
        const l = await Promise.all(
          nodes.map(async (n) => {
            const m = /^koor_cluster_leader (\S+)$/m.exec((await get(n.url, '/metrics')).text);
            return m ? Number(m[1]) : -1;
          }),
        );
        return l.filter((v) => v === 1).length === 1 ? l : undefined;
      },
      15_000,
      200,
    );
    t.same([...leaders].sort(), [0, 1], 'a node leads again');
  });
}
