import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import postgres from 'postgres';
import t from 'tap';
import { MIGRATIONS } from '../../schemas/db/sqlite-migrations.js';
import { PG_MIGRATIONS } from '../../schemas/db/pg-migrations.js';
import { migratePg } from '../../workers/writer/pg/migrate.js';
import { freshDatabase, providePostgres } from '../helpers/postgres.js';
import { startReceiver } from '../helpers/receiver.js';
import { json, startTestServer, tempDir, TEST_BACKEND } from '../helpers/server.js';
import { waitUntil } from '../helpers/wait.js';

/**
 * Secrets stay secret: a backup holds no token (the server's, an agent's, a created
 * one, live or deleted) and no webhook secret in any form a grep would find — as is, hex, base64
 * at every alignment, UTF-16 — and a data file whose tokens and secrets an older server stored in
 * plain text keeps working after its migration, without them.
 */

/** The forms of `secret` a grep of a file would find. */
function forms(secret: string): Array<[string, Buffer]> {
  const raw = Buffer.from(secret, 'utf8');
  const out: Array<[string, Buffer]> = [
    ['plain', raw],
    ['utf-16', Buffer.from(secret, 'utf16le')],
    ['hex', Buffer.from(raw.toString('hex'))],
    ['HEX', Buffer.from(raw.toString('hex').toUpperCase())],
  ];
  // base64 of the secret inside a longer text: its middle is the same at one of three alignments.
  for (let pad = 0; pad < 3; pad++) {
    for (const enc of ['base64', 'base64url'] as const) {
      const b = Buffer.concat([Buffer.alloc(pad, 0x20), raw]).toString(enc);
      out.push([`${enc}+${pad}`, Buffer.from(b.slice(4, b.length - 4))]);
    }
  }
  return out;
}

function assertAbsent(t: Tap.Test, file: Buffer, what: string, secret: string): void {
  const found = forms(secret).filter(([, needle]) => file.includes(needle)).map(([name]) => name);
  t.same(found, [], `${what}: in no form`);
}

const sign = (secret: string, body: string) => crypto.createHmac('sha256', secret).update(body).digest('hex');

t.test('a backup holds no token and no webhook secret, live or deleted, in any form', async (t) => {
  const serverToken = `srv-${crypto.randomBytes(24).toString('hex')}`;
  const s = await startTestServer(t, { authToken: serverToken });
  const H = { authorization: `Bearer ${serverToken}`, 'content-type': 'application/json' };
  const post = async (p: string, body: unknown) => json(await fetch(`${s.url}${p}`, { method: 'POST', headers: H, body: JSON.stringify(body) }));
  const del = async (p: string) => (await fetch(`${s.url}${p}`, { method: 'DELETE', headers: H })).arrayBuffer();
  const rx = await startReceiver(t);

  const live = await post('/api/instances/register', { name: 'live' });
  const gone = await post('/api/instances/register', { name: 'gone' });
  await del(`/api/instances/${gone.id}`);
  const kept = await post('/api/tokens', { name: 'kept', role: 'agent' });
  const revoked = await post('/api/tokens', { name: 'revoked', role: 'reader' });
  await del(`/api/tokens/${revoked.id}`);
  const secret = `whsec-${crypto.randomBytes(16).toString('hex')}`;
  const deletedSecret = `whsec-${crypto.randomBytes(16).toString('hex')}`;
  t.match(await post('/api/webhooks', { id: 'signed', url: rx.url, secret }), { has_secret: true });
  await post('/api/webhooks', { id: 'doomed', url: rx.url, secret: deletedSecret });
  await del('/api/webhooks/doomed');

  const r = await fetch(`${s.url}/api/admin/backup`, { headers: H });
  t.equal(r.status, 200);
  const file = Buffer.from(await r.arrayBuffer());
  t.ok(file.length > 4096, `a backup of ${file.length} bytes`);
  assertAbsent(t, file, 'the server token', serverToken);
  assertAbsent(t, file, 'a registered agent token', live.token);
  assertAbsent(t, file, 'a deregistered agent token', gone.token);
  assertAbsent(t, file, 'a created token', kept.token);
  assertAbsent(t, file, 'a revoked created token', revoked.token);
  assertAbsent(t, file, 'a webhook secret', secret);
  assertAbsent(t, file, 'a deleted webhook secret', deletedSecret);

  // What the backup does hold still works where it is: tokens by their hashes, the secret signs.
  const dir = tempDir(t);
  fs.writeFileSync(path.join(dir, 'b.db'), file);
  const db = new Database(path.join(dir, 'b.db'), { readonly: true });
  t.same(db.prepare('SELECT name FROM instances').pluck().all(), ['live'], 'the instances are in it');
  t.same(db.prepare('SELECT name FROM api_tokens').pluck().all(), ['kept'], 'the created tokens are in it');
  db.close();
  for (const token of [live.token, kept.token]) t.equal((await fetch(`${s.url}/api/state`, { headers: { authorization: `Bearer ${token}` } })).status, 200);
  const tested = await fetch(`${s.url}/api/webhooks/signed/test`, { method: 'POST', headers: H });
  t.equal(tested.status, 200, await tested.text());
  const got = rx.got.at(-1)!;
  t.equal(got.headers['x-koor-signature'], sign(secret, got.body), 'a delivery is signed with the secret as given');
});

t.test('SQLite: the key of the webhook secrets is beside data.db, private, and no part of a backup', async (t) => {
  if (TEST_BACKEND !== 'sqlite') return t.skip('the SQLite store');
  const s = await startTestServer(t);
  const key = path.join(s.config.dataDir, 'secret.key');
  const st = fs.statSync(key);
  t.equal(st.mode & 0o777, 0o600, 'mode 0600');
  const hex = fs.readFileSync(key, 'utf8').trim();
  t.match(hex, /^[0-9a-f]{64}$/);
  await fetch(`${s.url}/api/webhooks`, { method: 'POST', body: JSON.stringify({ id: 'w', url: 'http://127.0.0.1:9/x', secret: 'abc' }) }).then((r) => r.arrayBuffer());
  const file = Buffer.from(await (await fetch(`${s.url}/api/admin/backup`)).arrayBuffer());
  t.notOk(file.includes(Buffer.from(hex)) || file.includes(Buffer.from(hex, 'hex')), 'the key is not in the backup');
});

/** Instance rows and a webhook as a server from before secrets were sealed stored them: tokens and secret in plain text. */
const OLD_INSTANCES = [
  { id: 'old-a', name: 'old-a', token: crypto.randomUUID() },
  { id: 'old-b', name: 'old-b', token: crypto.randomUUID() },
];
const OLD_SECRET = `whsec-${crypto.randomBytes(16).toString('hex')}`;

t.test('a data file with plain instance tokens and webhook secrets: they keep working after the migration, and leave no trace', async (t) => {
  const dataDir = tempDir(t);
  const rx = await startReceiver(t);
  const over: { dataDir: string; authToken: string; database?: string } = { dataDir, authToken: 'T' };
  if (TEST_BACKEND === 'sqlite') {
    // The schema as of version 11 (the last before hashed instance tokens), written by hand.
    const db = new Database(path.join(dataDir, 'data.db'));
    db.pragma('auto_vacuum = INCREMENTAL');
    db.pragma('journal_mode = WAL');
    for (const m of MIGRATIONS.filter((x) => x.version <= 11)) db.exec(m.sql);
    db.pragma('user_version = 11');
    seedOld((q, ...p) => db.prepare(q).run(...p), rx.url);
    db.close();
  } else {
    const pg = await providePostgres();
    if ('skipped' in pg) return t.skip(pg.skipped);
    t.teardown(() => pg.stop());
    const url = await freshDatabase(pg, 'oldtokens');
    const sql = postgres(url, { max: 1, onnotice: () => {} });
    await migratePg(sql, PG_MIGRATIONS.filter((m) => m.version <= 6));
    const rows: Array<[string, unknown[]]> = [];
    seedOld((q, ...p) => rows.push([q, p]), rx.url);
    for (const [q, p] of rows) await sql.unsafe(q.replace(/\?/g, (_, i: number) => `$${q.slice(0, i).split('?').length}`), p as never[]);
    await sql.end({ timeout: 1 });
    over.database = url;
  }
  const s = await startTestServer(t, over);
  for (const i of OLD_INSTANCES) {
    const r = await fetch(`${s.url}/api/instances/${i.id}`, { headers: { authorization: `Bearer ${i.token}` } });
    t.equal(r.status, 200, `${i.name}'s old token still authenticates`);
    t.equal((await json(r)).name, i.name);
  }
  t.equal((await fetch(`${s.url}/api/state`, { headers: { authorization: `Bearer ${crypto.randomUUID()}` } })).status, 401, 'an unknown token is still refused');
  // The secret stored in plain text is encrypted once the server is up, and still signs.
  const H = { authorization: 'Bearer T' };
  await waitUntil('the old secret sealed', async () => {
    const file = Buffer.from(await (await fetch(`${s.url}/api/admin/backup`, { headers: H })).arrayBuffer());
    return !file.includes(Buffer.from(OLD_SECRET)) ? file : false;
  });
  const file = Buffer.from(await (await fetch(`${s.url}/api/admin/backup`, { headers: H })).arrayBuffer());
  for (const i of OLD_INSTANCES) assertAbsent(t, file, `${i.name}'s old token`, i.token);
  assertAbsent(t, file, 'the old webhook secret', OLD_SECRET);
  t.equal((await fetch(`${s.url}/api/webhooks/old/test`, { method: 'POST', headers: H })).status, 200);
  const got = rx.got.at(-1)!;
  t.equal(got.headers['x-koor-signature'], sign(OLD_SECRET, got.body), 'the old secret still signs');
});

function seedOld(run: (q: string, ...params: unknown[]) => unknown, url: string): void {
  for (const i of OLD_INSTANCES) {
    run("INSERT INTO instances (id, name, workspace, intent, stack, capabilities, status, token, registered_at, last_seen) VALUES (?, ?, '', '', '', '[]', 'active', ?, '2026-01-01 00:00:00', '2026-01-01 00:00:00')", i.id, i.name, i.token);
  }
  run(`INSERT INTO webhooks (id, url, patterns, secret, active, created_at) VALUES ('old', ?, '["*"]', ?, 1, '2026-01-01 00:00:00')`, url, OLD_SECRET);
}
