import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { spawnServer, tempDir, TEST_BACKEND } from './helpers/server.js';
import { waitUntil } from './helpers/wait.js';

/**
 * A full disk. The data dir sits on a small tmpfs volume; a filler file takes the rest.
 * Writes answer 507 with a JSON error, /health says degraded, nothing acknowledged is lost, and
 * once a few MB are freed writes come back by themselves (no restart): the writer checkpoints and
 * truncates its WAL, so what must be freed is small.
 */

const VOLUME_MB = 32;
const FREED_MB = 4;

function mountTmpfs(dir: string): string | null {
  if (process.getuid?.() !== 0) return 'needs root to mount a tmpfs';
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${VOLUME_MB}m`, 'tmpfs', dir]);
  return r.status === 0 ? null : `mount -t tmpfs failed: ${r.stderr.toString().trim() || `exit ${r.status}`}`;
}

const why = TEST_BACKEND !== 'sqlite' ? 'the SQLite data file on a small volume (PostgreSQL keeps its data elsewhere)' : null;

t.test('a full disk: 507 and /health degraded, nothing acknowledged lost, writes resume by themselves', { skip: why ?? false }, async (t) => {
  const mnt = tempDir(t, 'koor-full-');
  const refused = mountTmpfs(mnt);
  if (refused) return t.skip(refused);
  t.teardown(() => void spawnSync('umount', ['-l', mnt]));
  const dataDir = path.join(mnt, 'data');
  const srv = await spawnServer(['--data-dir', dataDir]);
  t.teardown(() => srv.child.kill('SIGKILL'));
  const url = srv.url;
  const put = async (key: string, body: string) => {
    const r = await fetch(`${url}/api/state/${key}`, { method: 'PUT', body, headers: { 'content-type': 'application/json' } });
    return { status: r.status, body: (await r.json()) as any };
  };
  // Two coding-agent sessions (their hooks); A edits a file, and so auto-leases it.
  const hook = async (session: string, event: string, extra: Record<string, unknown> = {}) => {
    const r = await fetch(`${url}/api/hooks/claude-code`, { method: 'POST', headers: { 'x-koor-repo-root': `/clone-${session}/shop` }, body: JSON.stringify({ session_id: session, hook_event_name: event, cwd: `/clone-${session}/shop`, ...extra }) });
    return { status: r.status, body: (await r.json()) as any };
  };
  const edit = (session: string) => hook(session, 'PreToolUse', { tool_name: 'Edit', tool_input: { file_path: `/clone-${session}/shop/src/app.ts` } });
  t.equal((await hook('b', 'UserPromptSubmit')).status, 200);
  t.same((await edit('a')).body, {}, "A's edit of a free file: allowed, and leased to A");
  const acked = new Map<string, string>();
  for (let i = 0; i < 20; i++) {
    const v = JSON.stringify({ i, pad: 'a'.repeat(1000) });
    t.equal((await put(`before/${i}`, v)).status, 200);
    acked.set(`before/${i}`, v);
  }

  // The rest of the volume goes to a filler file.
  const filler = path.join(mnt, 'filler');
  const fd = fs.openSync(filler, 'w');
  const mb = Buffer.alloc(1024 * 1024, 1);
  try {
    for (let i = 0; i < VOLUME_MB * 2; i++) fs.writeSync(fd, mb);
  } catch (e) {
    t.equal((e as NodeJS.ErrnoException).code, 'ENOSPC', 'the volume is full');
  } finally {
    fs.closeSync(fd);
  }
  // 1 MB back: some of the writes below are acknowledged before the disk is full again.
  fs.truncateSync(filler, fs.statSync(filler).size - 1024 * 1024);

  // Writes until the database cannot grow: each acknowledged one is remembered.
  let full: { status: number; body: any } | null = null;
  for (let i = 0; i < 2000 && !full; i++) {
    const v = JSON.stringify({ i, pad: `${i}`.repeat(16 * 1024) });
    const r = await put(`fill/${i}`, v);
    if (r.status === 200) acked.set(`fill/${i}`, v);
    else full = r;
  }
  t.ok(full, 'a write was refused once the disk was full');
  t.ok([...acked.keys()].some((k) => k.startsWith('fill/')), `writes were acknowledged until then: ${acked.size - 20}`);
  t.equal(full!.status, 507, 'insufficient storage');
  t.same(full!.body, { error: 'insufficient storage: the disk holding the database is full; nothing was written, retry once space is freed', code: 507 }, 'a JSON error naming the cause');
  const health = (await (await fetch(`${url}/health`)).json()) as any;
  t.equal(health.status, 'degraded', `/health: ${JSON.stringify(health)}`);
  t.match(health.storage, /^full since .*: writes answer 507/);
  t.match(await (await fetch(`${url}/metrics`)).text(), /^koor_storage_full 1$/m, '/metrics says why');
  // B's edit of A's file is refused though the refusal cannot be recorded: a failed hook would let it through.
  const denied = await edit('b');
  t.equal(denied.status, 200, 'the hook answers while the disk is full');
  t.equal(denied.body.hookSpecificOutput?.permissionDecision, 'deny', `B's edit of the file A leases is refused: ${JSON.stringify(denied.body)}`);
  // Reads still work.
  const read = await fetch(`${url}/api/state/before/0`);
  t.equal(await read.text(), acked.get('before/0'), 'reads are served while the disk is full');

  // A few MB freed: /health turns ok by itself (no write needed to find out), and writes come back without a restart.
  fs.truncateSync(filler, Math.max(0, fs.statSync(filler).size - FREED_MB * 1024 * 1024));
  const healed = await waitUntil('/health to be ok again without a write', async () => {
    const h = (await (await fetch(`${url}/health`)).json()) as any;
    return h.status === 'ok' ? h : false;
  }, 30_000, 200);
  t.equal(healed.status, 'ok', '/health is ok again before any write');
  const back = await waitUntil('a write to succeed again', async () => ((await put('after/0', '{"back":true}')).status === 200 ? true : false), 30_000, 200);
  t.ok(back, `writes resumed after ${FREED_MB} MB were freed`);
  t.match(await (await fetch(`${url}/metrics`)).text(), /^koor_storage_full 0$/m);
  for (let i = 1; i < 20; i++) t.equal((await put(`after/${i}`, '{}')).status, 200, `write ${i} after recovery`);

  // Nothing acknowledged was lost, in this process and after a restart.
  const check = async (base: string, what: string) => {
    let same = 0;
    for (const [k, v] of acked) if ((await (await fetch(`${base}/api/state/${k}`)).text()) === v) same++;
    t.equal(same, acked.size, `${what}: all ${acked.size} acknowledged writes hold their bytes`);
  };
  await check(url, 'live');
  const dead = new Promise((r) => srv.child.once('exit', r));
  srv.child.kill('SIGKILL');
  await dead;
  const again = await spawnServer(['--data-dir', dataDir]);
  t.teardown(() => again.child.kill('SIGKILL'));
  await check(again.url, 'after kill -9 and restart');
});
