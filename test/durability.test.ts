import path from 'node:path';
import t from 'tap';
import { spawnServer, tempDir } from './helpers/server.js';
import { attachStrace, ensureStrace } from './helpers/strace.js';

/** Max time each phase may take (bounded load loops). */
const PHASE_MS = 1500;
/** Writes acknowledged before the kill, at least: on a loaded machine the phase runs on until then (bounded). */
const MIN_ACKED = 150;
const PHASE_MAX_MS = 30_000;
/** Lets the clients write for PHASE_MS, and on until `count()` reaches `min` (at most PHASE_MAX_MS in all). */
async function writePhase(count: () => number, min: number): Promise<void> {
  const t0 = Date.now();
  await new Promise((r) => setTimeout(r, PHASE_MS));
  while (count() < min && Date.now() - t0 < PHASE_MAX_MS) await new Promise((r) => setTimeout(r, 100));
}

t.test('SIGKILL mid-flight: every acknowledged write survives with the version it was told', async (t) => {
  const dataDir = tempDir(t);
  const srv = await spawnServer(['--data-dir', dataDir]);
  const acked = new Map<string, { version: number; body: string }[]>();
  let stop = false;
  let errors = 0;

  // 50 concurrent clients, each writing its own key over and over until the kill.
  const clients = Array.from({ length: 50 }, async (_, c) => {
    const key = `crash/c${c}`;
    const log: { version: number; body: string }[] = [];
    acked.set(key, log);
    for (let i = 0; !stop && i < 10_000; i++) {
      const body = JSON.stringify({ client: c, seq: i });
      try {
        const r = await fetch(`${srv.url}/api/state/${key}`, { method: 'PUT', body: Buffer.from(body) as unknown as BodyInit });
        if (r.status !== 200) break;
        const j = (await r.json()) as { version: number };
        log.push({ version: j.version, body });
      } catch {
        errors++;
        break; // connection died with the server
      }
    }
  });
  await writePhase(() => [...acked.values()].reduce((n, l) => n + l.length, 0), MIN_ACKED);
  const dead = new Promise((r) => srv.child.once('exit', r));
  srv.child.kill('SIGKILL');
  await dead; // clients keep writing until the process is gone: some requests die mid-flight
  stop = true;
  await Promise.all(clients);
  const total = [...acked.values()].reduce((n, l) => n + l.length, 0);
  t.ok(total > 100, `acknowledged ${total} writes before the kill`);
  t.ok(errors > 0, 'some requests were in flight at the kill');

  const again = await spawnServer(['--data-dir', dataDir]);
  t.teardown(() => again.child.kill('SIGKILL'));
  let checked = 0;
  for (const [key, log] of acked) {
    const last = log.at(-1);
    if (!last) continue;
    const cur = await fetch(`${again.url}/api/state/${key}`);
    t.equal(cur.status, 200, `${key} present`);
    const version = Number(cur.headers.get('x-koor-version'));
    await cur.arrayBuffer();
    t.ok(version >= last.version, `${key}: version ${version} ≥ last acknowledged ${last.version}`);
    // Every acknowledged version holds exactly the bytes that were acknowledged.
    for (const entry of [log[0]!, log[Math.floor(log.length / 2)]!, last]) {
      const v = await fetch(`${again.url}/api/state/${key}?version=${entry.version}`);
      t.equal(await v.text(), entry.body, `${key} v${entry.version}`);
      checked++;
    }
  }
  t.ok(checked > 0);
});

t.test('SIGTERM: stops accepting, finishes in-flight writes, restart sees them', async (t) => {
  const dataDir = tempDir(t);
  const srv = await spawnServer(['--data-dir', dataDir]);
  // Listening before anything can make it exit, so the exit is never missed.
  const exited = new Promise<number | null>((resolve) => srv.child.once('exit', (c) => resolve(c)));
  const results: Array<{ key: string; status: number }> = [];
  let firstAck: () => void;
  const acked = new Promise<void>((r) => (firstAck = r));
  let stop = false;
  // 40 writers, each writing new keys until the server stops answering (bounded per writer).
  const writers = Array.from({ length: 40 }, async (_, w) => {
    for (let i = 0; !stop && i < 1000; i++) {
      const key = `term/w${w}/k${i}`;
      try {
        const r = await fetch(`${srv.url}/api/state/${key}`, { method: 'PUT', body: Buffer.from(`v${i}`) as unknown as BodyInit });
        await r.arrayBuffer();
        results.push({ key, status: r.status });
        if (r.status === 200) firstAck();
        else break;
      } catch {
        results.push({ key, status: 0 });
        break;
      }
    }
  });
  await acked; // the kill lands while writes are flowing, after at least one was acknowledged
  srv.child.kill('SIGTERM');
  const code = await exited;
  stop = true;
  await Promise.all(writers);
  t.equal(code, 0, 'clean exit');
  t.match(srv.stderr(), /"msg":"stopped"/);
  const ok = results.filter((r) => r.status === 200);
  t.ok(ok.length >= 1, `${ok.length} of ${results.length} writes acknowledged around SIGTERM`);

  const again = await spawnServer(['--data-dir', dataDir]);
  t.teardown(() => again.child.kill('SIGKILL'));
  let present = 0;
  for (const r of ok) {
    const g = await fetch(`${again.url}/api/state/${r.key}`);
    await g.arrayBuffer();
    if (g.status === 200) present++;
    else t.fail(`${r.key} was acknowledged before shutdown but is missing`);
  }
  t.equal(present, ok.length, 'every acknowledged write is present after restart');
});

t.test('SIGKILL mid-flight: every acknowledged message is in its recipient inbox after restart', async (t) => {
  const dataDir = tempDir(t);
  const srv = await spawnServer(['--data-dir', dataDir]);
  const reg = async (url: string, name: string) => (await (await fetch(`${url}/api/instances/register`, { method: 'POST', body: Buffer.from(JSON.stringify({ name })) as unknown as BodyInit })).json()) as { id: string };
  const inbox = await reg(srv.url, 'inbox');
  const senders = await Promise.all(Array.from({ length: 20 }, (_, i) => reg(srv.url, `s${i}`)));
  const acked: Array<{ id: number; body: string }> = [];
  let stop = false;
  let errors = 0;
  const clients = senders.map(async (s, c) => {
    for (let i = 0; !stop && i < 10_000; i++) {
      const body = `from ${c} #${i}`;
      try {
        const r = await fetch(`${srv.url}/api/messages`, { method: 'POST', headers: { 'x-koor-instance': s.id }, body: Buffer.from(JSON.stringify({ to: [inbox.id], body })) as unknown as BodyInit });
        if (r.status !== 200) break;
        acked.push({ id: ((await r.json()) as { id: number }).id, body });
      } catch {
        errors++;
        break;
      }
    }
  });
  await writePhase(() => acked.length, MIN_ACKED);
  const dead = new Promise((r) => srv.child.once('exit', r));
  srv.child.kill('SIGKILL');
  await dead;
  stop = true;
  await Promise.all(clients);
  t.ok(acked.length > 50, `acknowledged ${acked.length} sends before the kill`);
  t.ok(errors > 0, 'some sends were in flight at the kill');

  const again = await spawnServer(['--data-dir', dataDir]);
  t.teardown(() => again.child.kill('SIGKILL'));
  const got = new Map<number, string>();
  for (let since = 0; ; ) {
    const page = (await (await fetch(`${again.url}/api/inbox?since=${since}&limit=1000`, { headers: { 'x-koor-instance': inbox.id } })).json()) as Array<{ id: number; body: string }>;
    for (const m of page) got.set(m.id, m.body);
    if (page.length < 1000) break;
    since = page.at(-1)!.id;
  }
  const lost = acked.filter((a) => got.get(a.id) !== a.body);
  t.same(lost, [], `all ${acked.length} acknowledged messages kept (${got.size} stored)`);
});

t.test('--sync full: the WAL is on disk before each acknowledged write; --sync normal leaves it to checkpoints (SQLite)', async (t) => {
  const strace = ensureStrace();
  if ('skip' in strace) {
    t.skip(`needs strace: ${strace.skip}`);
    return;
  }
  const PUTS = 20;
  const syncs: Record<string, { data: number; full: number }> = {};
  for (const sync of ['full', 'normal'] as const) {
    const dir = tempDir(t);
    // On SQLite whatever the suite's backend: the WAL is SQLite's.
    const srv = await spawnServer(['--data-dir', dir, '--database', '', '--sync', sync]);
    t.teardown(() => srv.child.kill('SIGKILL'));
    await (await fetch(`${srv.url}/api/state/sync/warm`, { method: 'PUT', body: '{}' })).arrayBuffer();
    const trace = await attachStrace(strace.path, srv.child.pid!, ['fsync', 'fdatasync'], path.join(dir, 'strace.out'));
    // One connection, one PUT at a time: each is its own commit.
    for (let i = 0; i < PUTS; i++) {
      const r = await fetch(`${srv.url}/api/state/sync/k${i}`, { method: 'PUT', body: JSON.stringify({ i }) });
      t.equal(r.status, 200);
      await r.arrayBuffer();
    }
    const lines = await trace.stop();
    const wal = lines.filter((l) => /\b(fsync|fdatasync)\(\d+<[^>]*data\.db-wal>\)\s+=\s+0/.test(l));
    syncs[sync] = { data: wal.filter((l) => /fdatasync\(/.test(l)).length, full: wal.filter((l) => /\bfsync\(/.test(l)).length };
  }
  t.ok(syncs.full!.data + syncs.full!.full >= PUTS, `--sync full: ${syncs.full!.data} fdatasync + ${syncs.full!.full} fsync of the WAL for ${PUTS} acknowledged PUTs`);
  t.ok(syncs.full!.data >= PUTS, 'by fdatasync: the WAL mostly overwrites itself, its mtime need not reach the disk at each commit');
  t.ok(syncs.normal!.data + syncs.normal!.full < PUTS / 4, `--sync normal: ${syncs.normal!.data + syncs.normal!.full} syncs of the WAL for ${PUTS} PUTs`);
});
