import { spawnSync } from 'node:child_process';
import t from 'tap';
import { ensureFaketime } from './helpers/faketime.js';
import { spawnServer, tempDir, type ServerProcess } from './helpers/server.js';
import { waitUntil } from './helpers/wait.js';

/**
 * The liveness monitor never judges agents against the server's own absence. A real
 * server process is stopped (SIGSTOP) for longer than the liveness timeout and a lease's TTL while
 * its agents keep heartbeating; after SIGCONT nobody goes stale and no lease is released, /health
 * reports the hold-up, and an agent that really went silent still goes stale once the grace ends.
 */

/**
 * 10 s, not less: the test process itself is stalled now and then on a loaded machine, and a
 * stall longer than the timeout between two heartbeats would make an agent stale for real.
 */
const TIMEOUT_MS = 10_000;
const TIMEOUT = '10s';
/** Heartbeats and monitor passes: a tenth of the timeout. */
const BEAT_MS = 1000;
// The tests wait out timeouts on servers of their own (~58 and ~35 s): side by side, not one after the other.
t.jobs = 2;

async function call(url: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
  const r = await fetch(`${url}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : (Buffer.from(JSON.stringify(body)) as unknown as BodyInit),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : null };
}

/** Waits (bounded) until the server's grace period after its last absence is over, then for a few monitor passes. */
async function pastGrace(url: string): Promise<void> {
  await waitUntil('the grace period to end', async () => (await call(url, 'GET', '/health')).body.liveness.grace_ms === 0, 6 * TIMEOUT_MS, 100);
  await new Promise((r) => setTimeout(r, 3 * BEAT_MS));
}

async function agent(url: string, name: string): Promise<string> {
  const a = (await call(url, 'POST', '/api/instances/register', { name })).body;
  await call(url, 'POST', `/api/instances/${a.id}/activate`);
  return a.id as string;
}

/** Agents heartbeating every BEAT_MS until stopped; counts the heartbeats answered 200. */
function heartbeats(url: string, ids: readonly string[]): { stop: () => Promise<void>; ok: () => number } {
  let running = true;
  let ok = 0;
  const loops = ids.map(async (id) => {
    for (let i = 0; running && i < 10_000; i++) {
      const r = await call(url, 'POST', `/api/instances/${id}/heartbeat`).catch(() => ({ status: 0 }));
      if (r.status === 200) ok++;
      await new Promise((res) => setTimeout(res, BEAT_MS));
    }
  });
  return {
    stop: async () => {
      running = false;
      await Promise.all(loops);
    },
    ok: () => ok,
  };
}

async function liveServer(t: { teardown(fn: () => unknown): void }, env: NodeJS.ProcessEnv = {}): Promise<ServerProcess> {
  const srv = await spawnServer(['--data-dir', tempDir(t), '--liveness-timeout', TIMEOUT, '--liveness-interval', `${BEAT_MS}ms`], env);
  t.teardown(() => {
    srv.child.kill('SIGCONT');
    srv.child.kill('SIGKILL');
  });
  return srv;
}

t.test('SIGSTOP of the server longer than the timeout: nobody goes stale, no lease is released', async (t) => {
  const srv = await liveServer(t);
  const url = srv.url;
  const ids = await Promise.all(Array.from({ length: 5 }, (_, i) => agent(url, `busy-${i}`)));
  const silent = await agent(url, 'silent');
  const leases: string[] = [];
  for (const [i, id] of ids.entries()) {
    leases.push((await call(url, 'POST', '/api/leases', { resources: [`app/${i}/**`] }, { 'x-koor-instance': id })).body.id);
    leases.push((await call(url, 'POST', '/api/leases', { resources: [`ttl/${i}/**`], ttl: `${Math.round((TIMEOUT_MS * 4) / 3 / 1000)}s` }, { 'x-koor-instance': id })).body.id);
  }
  t.equal(leases.filter(Boolean).length, 10, 'ten leases, five with a TTL longer than the timeout');
  const hb = heartbeats(url, ids);

  // The silent agent goes stale once the server has been present for a full timeout: the monitor works.
  await waitUntil('the silent agent to go stale', async () => (await call(url, 'GET', `/api/instances/${silent}`)).body.status === 'stale', 6 * TIMEOUT_MS, 100);
  await new Promise((r) => setTimeout(r, BEAT_MS));
  const before = hb.ok();

  srv.child.kill('SIGSTOP');
  await new Promise((r) => setTimeout(r, 2 * TIMEOUT_MS)); // twice the timeout, longer than the TTL
  srv.child.kill('SIGCONT');
  // Heartbeats resume; run past a full timeout after the resumption and a few monitor passes.
  await waitUntil('heartbeats after SIGCONT', () => hb.ok() > before + 3 * ids.length, 3 * TIMEOUT_MS, 50);
  await pastGrace(url);

  const health = (await call(url, 'GET', '/health')).body;
  t.ok(health.liveness.max_lag_ms >= TIMEOUT_MS, `/health reports the hold-up: ${JSON.stringify(health.liveness)}`);
  t.ok(health.liveness.absences >= 1);
  const all = (await call(url, 'GET', '/api/instances')).body as Array<{ id: string; status: string }>;
  t.same(all.filter((i) => ids.includes(i.id)).map((i) => i.status), ids.map(() => 'active'), 'every heartbeating agent is still active');
  const held = (await call(url, 'GET', '/api/leases')).body.map((l: any) => l.id).sort();
  t.same(held, [...leases].sort(), 'every lease is kept, TTL ones included');
  const history = (await call(url, 'GET', '/api/events/history?since=0&last=1000')).body as Array<{ topic: string; data: any }>;
  t.same(history.filter((e) => e.topic === 'agent.stale').map((e) => e.data.instance_id), [silent], 'only the silent agent ever went stale');
  t.same(history.filter((e) => e.topic === 'lease.released'), [], 'no lease.released');

  // After the grace, a silent agent is still judged.
  const late = await agent(url, 'late-silent');
  await waitUntil('an agent silent after the grace to go stale', async () => (await call(url, 'GET', `/api/instances/${late}`)).body.status === 'stale', 6 * TIMEOUT_MS, 100);
  t.pass('the monitor still judges after the grace');
  await hb.stop();
});

/** A Go duration of whole seconds ("1h2m3s") in seconds; anything else (a negative one: "-5s") fails the test. */
function seconds(d: string): number {
  const m = /^(?:(\d+)h)?(?:(\d+)m)?(\d+)s$/.exec(d);
  if (!m) throw new Error(`uptime ${JSON.stringify(d)} is not a non-negative duration`);
  return Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3]);
}

/** The server's uptime on /health and /api/metrics, in seconds, and when it was read (this process's monotonic clock, s). */
async function uptime(url: string): Promise<{ health: number; metrics: number; at: number }> {
  const at = performance.now() / 1000;
  return { health: seconds((await call(url, 'GET', '/health')).body.uptime), metrics: seconds((await call(url, 'GET', '/api/metrics')).body.uptime), at };
}

/** libfaketime (Debian's `faketime`, installed by the test setup): the server's wall clock is stepped 10 min forward, then back, while it runs. */
const faketime = ensureFaketime();
const LIBFAKETIME = 'path' in faketime ? faketime.path : null;
const NO_FAKETIME = 'skip' in faketime ? faketime.skip : false;

t.test('a wall-clock step of the server process changes nothing (libfaketime)', { skip: NO_FAKETIME }, async (t) => {
  const dir = tempDir(t, 'koor-faketime-');
  const stamp = `${dir}/faketime`;
  const { writeFileSync } = await import('node:fs');
  writeFileSync(stamp, '+0s\n');
  // FAKETIME_DONT_FAKE_MONOTONIC: only the wall clock steps, as NTP or a VM resume steps it.
  const srv = await liveServer(t, { LD_PRELOAD: LIBFAKETIME!, FAKETIME_TIMESTAMP_FILE: stamp, FAKETIME_NO_CACHE: '1', FAKETIME_DONT_FAKE_MONOTONIC: '1' });
  const url = srv.url;
  const ids = await Promise.all(Array.from({ length: 3 }, (_, i) => agent(url, `ntp-${i}`)));
  const leases: string[] = [];
  for (const [i, id] of ids.entries()) leases.push((await call(url, 'POST', '/api/leases', { resources: [`ttl/${i}/**`], ttl: '100s' }, { 'x-koor-instance': id })).body.id);
  const hb = heartbeats(url, ids);
  await pastGrace(url); // past the start-up grace: the monitor judges
  const t0 = Date.parse((await call(url, 'GET', `/api/leases/${leases[0]}`)).body.expires_at);
  const w0 = Date.now();
  const absences = (await call(url, 'GET', '/health')).body.liveness.absences;
  const up0 = await uptime(url);
  writeFileSync(stamp, '+600s\n');
  // Past a full timeout and a few monitor passes: the data clock is on the monotonic clock
  // (src/shared/local-clock.ts), so the step is not even a hold-up to make up for.
  await new Promise((r) => setTimeout(r, 2 * TIMEOUT_MS));
  t.equal((await call(url, 'GET', '/health')).body.liveness.absences, absences, '/health saw no hold-up');
  const all = (await call(url, 'GET', '/api/instances')).body as Array<{ id: string; status: string }>;
  t.same(all.filter((i) => ids.includes(i.id)).map((i) => i.status), ids.map(() => 'active'), 'nobody went stale');
  const after = (await call(url, 'GET', '/api/leases')).body as Array<{ id: string; expires_at: string }>;
  t.same(after.map((l) => l.id).sort(), [...leases].sort(), 'no TTL lease was released');
  // Heartbeats renew TTL leases: their end moves on with real time, not with the step.
  const moved = Date.parse(after.find((l) => l.id === leases[0])!.expires_at) - t0;
  t.ok(moved <= Date.now() - w0 + 2000, `a TTL lease's end moved on ${moved} ms in ${Date.now() - w0} ms, the 10-min step left out`);
  await hb.stop();

  // Uptime is on the monotonic clock — not credited with the step forward, never negative after one back.
  const up1 = await uptime(url);
  t.ok(up1.health > up0.health && up1.health <= up0.health + up1.at - up0.at + 2, `/health's uptime went on as time did, the step left out: ${up0.health}s, then ${up1.health}s ${Math.round(up1.at - up0.at)} s later`);
  writeFileSync(stamp, '-600s\n'); // back before the server started
  const up2 = await uptime(url);
  t.ok(up2.health >= up1.health && up2.health <= up1.health + up2.at - up1.at + 2, `a step back: uptime ${up1.health}s, then ${up2.health}s`);
  t.ok(up2.metrics >= up1.metrics && up2.metrics <= up1.metrics + up2.at - up1.at + 2, `/api/metrics too: ${up1.metrics}s, then ${up2.metrics}s`);
});

t.test('faketime is usable here', { skip: NO_FAKETIME }, async (t) => {
  const r = spawnSync('faketime', ['-f', '+1d', 'date', '+%s']);
  t.ok(Number(r.stdout.toString()) > Date.now() / 1000 + 80_000, 'faketime shifts the wall clock');
});
