import t from 'tap';
import { spawnServer, tempDir } from './helpers/server.js';

/**
 * A write is answered 5xx only when it certainly did not commit (503), or 504 `outcome
 * unknown` when it may have — never 503 after it committed. A real server process creating tasks
 * for 20 writers (beside one putting a 4 MiB value, which makes batches slow) is stopped (SIGSTOP)
 * for four times its write deadline, at least three times and until some write missed it: writes the
 * writer had begun when it stopped commit after SIGCONT, and the old front, whose deadline timer
 * fired first, answered some of them 503 (the probe found 6 such tasks in 11 503s). Every reply
 * is then checked against what exists, and every write not answered 200 is retried under its
 * Idempotency-Key, after which each exists exactly once.
 */

const WRITERS = 20;
const DEADLINE_MS = 500;
/** Stops until some writes were caught between queued and committed (a few, usually), at most this many. */
const MAX_STOPS = 10;
const STOP_MS = 4 * DEADLINE_MS;
/** A value this large makes its batch's commit long, so creates queue behind it when the stop comes. */
const BIG_VALUE = Buffer.alloc(4 * 1024 * 1024, 'x');

interface Reply {
  status: number;
  body: any;
}

async function create(url: string, title: string): Promise<Reply> {
  try {
    const r = await fetch(`${url}/api/tasks`, {
      method: 'POST',
      headers: { 'idempotency-key': title },
      body: Buffer.from(JSON.stringify({ project: 'soak', title })) as unknown as BodyInit,
      signal: AbortSignal.timeout(30_000),
    });
    return { status: r.status, body: await r.json() };
  } catch (e) {
    return { status: 0, body: String(e) };
  }
}

async function allTitles(url: string): Promise<Map<string, number>> {
  const seen = new Map<string, number>();
  for (let after = 0; ; ) {
    const page = (await (await fetch(`${url}/api/tasks?project=soak&limit=1000&after=${after}`)).json()) as Array<{ id: number; title: string }>;
    for (const task of page) seen.set(task.title, (seen.get(task.title) ?? 0) + 1);
    if (page.length < 1000) return seen;
    after = page[page.length - 1]!.id;
  }
}

t.test('a SIGSTOPped server under create load: no 503 for a committed write; every write exactly once after keyed retries', async (t) => {
  const srv = await spawnServer(['--data-dir', tempDir(t), '--rpc-deadline', `${DEADLINE_MS}ms`]);
  t.teardown(() => {
    srv.child.kill('SIGCONT');
    srv.child.kill('SIGKILL');
  });
  const replies = new Map<string, Reply>();
  let running = true;
  const writers = Array.from({ length: WRITERS }, async (_, w) => {
    for (let n = 0; running && n < 100_000; n++) {
      const title = `w${w}-${n}`;
      replies.set(title, await create(srv.url, title));
    }
  });
  // One client keeps putting a large value: the batches holding it commit slowly, so the writer
  // is often busy while creates wait for it, which is when a stop catches writes not yet begun.
  const big = (async () => {
    for (let n = 0; running && n < 10_000; n++) {
      await fetch(`${srv.url}/api/state/big`, { method: 'PUT', body: BIG_VALUE as unknown as BodyInit, signal: AbortSignal.timeout(30_000) })
        .then((r) => r.arrayBuffer())
        .catch(() => undefined);
    }
  })();
  const missed = () => [...replies.values()].filter((r) => r.status !== 200).length;
  let stops = 0;
  while (stops < MAX_STOPS && (stops < 3 || missed() === 0)) {
    await new Promise((r) => setTimeout(r, 700));
    srv.child.kill('SIGSTOP');
    await new Promise((r) => setTimeout(r, STOP_MS));
    srv.child.kill('SIGCONT');
    stops++;
  }
  await new Promise((r) => setTimeout(r, 1000));
  running = false;
  await Promise.all([...writers, big]);

  const by = (status: number) => [...replies].filter(([, r]) => r.status === status).map(([title]) => title);
  const others = [...replies].filter(([, r]) => ![200, 503, 504].includes(r.status));
  t.same(others, [], 'every reply is 200, 503 or 504');
  const ok = by(200);
  const unavailable = by(503);
  const unknown = by(504);
  t.comment(`${replies.size} creates over ${stops} stops: ${ok.length} × 200, ${unavailable.length} × 503, ${unknown.length} × 504`);
  t.ok(unavailable.length + unknown.length > 0, 'the stops made some writes miss their deadline (else this test proves nothing)');
  for (const title of unavailable) t.same(replies.get(title)!.body.code, 503);
  for (const title of unknown) t.match(replies.get(title)!.body, { code: 504, error: /outcome unknown/ });

  const seen = await allTitles(srv.url);
  t.same(ok.filter((title) => seen.get(title) !== 1), [], 'every write answered 200 exists exactly once');
  t.same(unavailable.filter((title) => seen.has(title)), [], 'no write answered 503 exists: a 503 means it did not commit');

  // Retried under their keys, as a client should: each exists exactly once afterwards.
  for (const title of [...unavailable, ...unknown]) {
    const again = await create(srv.url, title);
    t.equal(again.status, 200, `${title}: the keyed retry succeeds`);
  }
  const after = await allTitles(srv.url);
  t.same([...replies.keys()].filter((title) => after.get(title) !== 1), [], 'every write exists exactly once');
  t.equal(after.size, replies.size, 'and nothing else');
});
