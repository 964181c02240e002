import path from 'node:path';
import type { AuditTag, IdemTag, ReplyEnvelope } from '../../schemas/rpc/envelope.js';
import type { WriterMethod } from '../../schemas/rpc/writer.js';
import { WRITER_LIMITS } from '../../src/shared/limits.js';
import { openWriterDb } from '../../workers/writer/sqlite/db.js';
import { sqliteDriver } from '../../workers/writer/sqlite/driver.js';
import { createDispatcher } from '../../workers/writer/dispatch.js';
import { openPg } from '../../src/shared/pg.js';
import { TxClient } from '../../src/shared/pg-tx.js';
import { pgDriver } from '../../workers/writer/pg/driver.js';
import { migratePg } from '../../workers/writer/pg/migrate.js';
import type { PgServer } from './postgres.js';
import { pgReaders, sqliteReaders, type Readers } from '../../src/domains/readers.js';
import { openReader, type Awaitable } from '../../src/backend/read-db.js';
import { TABLES } from '../../schemas/db/tables/index.js';
import { tempDir } from './server.js';
import { monoNow } from '../../src/shared/mono-clock.js';

/**
 * Backend parity (cluster mode): one scenario of writer calls, run on a fresh SQLite
 * file and on a fresh PostgreSQL database, through the one writer with each driver; the test
 * compares the two transcripts (every reply, in order) and the two databases' tables at the end. Random ids, tokens, timestamps and epoch-ms instants are
 * normalised (ids numbered by first appearance), nothing else.
 */
export interface Call {
  (method: WriterMethod | string, req: unknown, opts?: { audit?: AuditTag; deadline?: number; idem?: IdemTag }): Promise<ReplyEnvelope>;
}
/** Several envelopes in one batch (one transaction), replies in order. */
export type Batch = (envs: Array<{ method: WriterMethod | string; req: unknown; audit?: AuditTag; idem?: IdemTag }>) => Promise<ReplyEnvelope[]>;
/** A read through the backend's readers (src/domains/readers.ts); its answer joins the transcript. */
export type Read = <T>(f: (r: Readers) => Awaitable<T>) => Promise<T>;
export type Scenario = (call: Call, batch: Batch, read: Read) => Promise<void>;

/** Tables whose rows both backends must hold alike after a scenario: every table both have (schemas/db/tables). */
export const PARITY_TABLES: readonly string[] = TABLES.filter((x) => x.onlyIn === undefined).map((x) => x.name);

/** PostgreSQL-only columns (`seq` stands for SQLite's rowid), left out of the comparison. */
export const PG_ONLY_COLUMNS: Readonly<Record<string, readonly string[]>> = Object.fromEntries(TABLES.filter((x) => x.seq).map((x) => [x.name, ['seq']]));

/**
 * SQLite-only columns (the version log's named rowid and the state row's pointer at it), left out
 * of the comparison: what they point at shows in every read of the transcript.
 */
export const SQLITE_ONLY_COLUMNS: Readonly<Record<string, readonly string[]>> = Object.fromEntries(
  TABLES.map((x) => [x.name, Object.entries(x.columns).filter(([, c]) => c.onlyIn === 'sqlite').map(([k]) => k)]),
);

const without = (columns: Readonly<Record<string, readonly string[]>>, table: string, r: object) => Object.fromEntries(Object.entries(r).filter(([k]) => !columns[table]?.includes(k)));

export interface Run {
  transcript: unknown[];
  tables: Record<string, unknown[]>;
}

interface Tap {
  teardown(fn: () => unknown): void;
}

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;
const TIME = /^\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\dZ?$/;
const TIME_IN = /\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\dZ?/g;

/** Ids numbered by first appearance (shared by a run's transcript and tables), times blanked. */
function normaliser() {
  const ids = new Map<string, string>();
  const id = (u: string) => {
    let n = ids.get(u);
    if (n === undefined) ids.set(u, (n = `<id${ids.size + 1}>`));
    return n;
  };
  const norm = (v: unknown): unknown => {
    if (v instanceof Uint8Array) return `bytes:${Buffer.from(v).toString('hex')}`;
    if (typeof v === 'string') {
      if (TIME.test(v)) return '<time>';
      return v.replace(UUID, id).replace(TIME_IN, '<time>');
    }
    if (typeof v === 'bigint') return norm(Number(v));
    if (typeof v === 'number') return v > 1e12 ? '<ms>' : v;
    if (Array.isArray(v)) return v.map(norm);
    // A token's hash is as random as the token: blanked like a time.
    if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, k === 'token_hash' ? '<token hash>' : norm(x)]));
    return v;
  };
  return norm;
}

/** JSON with keys sorted: rows compare (and sort) alike whatever each backend's column order. */
const canon = (v: unknown): string => JSON.stringify(v, (_k, x) => (x !== null && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : 1))) : x));
/** Scenarios run so far in this process: each gets its own file and database. */
let n = 0;

const byJson = (a: unknown, b: unknown) => (canon(a) < canon(b) ? -1 : 1);

export async function parity(t: Tap, pg: PgServer, opts: { stateHistoryKeep?: number } = {}) {
  const admin = openPg(pg.url, { max: 1, name: 'koor-parity-admin' });
  t.teardown(() => admin.end({ timeout: 1 }));
  async function onSqlite(scenario: Scenario): Promise<Run> {
    const file = path.join(tempDir(t as never), `parity-${n}.db`);
    const db = openWriterDb(file, WRITER_LIMITS);
    try {
      const d = createDispatcher(sqliteDriver(db), { stateHistoryKeep: opts.stateHistoryKeep ?? 0 });
      const norm = normaliser();
      const transcript: unknown[] = [];
      let id = 1;
      const batch: Batch = async (envs) => {
        const { replies } = await d.run(envs.map((e) => ({ id: id++, method: e.method, deadline: monoNow() + 60_000, req: e.req, ...(e.audit ? { audit: e.audit } : {}), ...(e.idem ? { idem: e.idem } : {}) })));
        for (const r of replies) transcript.push(norm(r));
        return replies;
      };
      const call: Call = async (method, req, o) => {
        const { replies } = await d.run([{ id: id++, method, deadline: o?.deadline ?? Date.now() + 60_000, req, ...(o?.audit ? { audit: o.audit } : {}), ...(o?.idem ? { idem: o.idem } : {}) }]);
        transcript.push(norm(replies[0]));
        return replies[0]!;
      };
      const readDb = openReader(file);
      const readers = sqliteReaders(readDb);
      const read: Read = async (f) => {
        const r = await f(readers);
        transcript.push(norm(r));
        return r;
      };
      try {
        await scenario(call, batch, read);
      } finally {
        readDb.close();
      }
      const tables: Record<string, unknown[]> = {};
      for (const name of PARITY_TABLES) tables[name] = (db.prepare(`SELECT * FROM ${name}`).all() as object[]).map((r) => norm(without(SQLITE_ONLY_COLUMNS, name, r))).sort(byJson);
      return { transcript, tables };
    } finally {
      db.close();
    }
  }

  async function onPostgres(scenario: Scenario): Promise<Run> {
    const name = `parity_${process.pid}_${n}`;
    // An ICU English collation where the server has ICU: the schema must order text by bytes (as
    // SQLite does) whatever collation the database has.
    await admin.unsafe(`CREATE DATABASE ${name} TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.utf8'`).catch(() => admin.unsafe(`CREATE DATABASE ${name}`));
    const url = pg.url.replace(/\/[^/?]*(\?|$)/, `/${name}$1`);
    const sql = openPg(url, { max: 2, name: 'koor-parity' });
    try {
      await migratePg(sql);
      const d = createDispatcher(pgDriver(() => sql), { stateHistoryKeep: opts.stateHistoryKeep ?? 0 });
      const norm = normaliser();
      const transcript: unknown[] = [];
      let id = 1;
      const batch: Batch = async (envs) => {
        const { replies } = await d.run(envs.map((e) => ({ id: id++, method: e.method, deadline: monoNow() + 60_000, req: e.req, ...(e.audit ? { audit: e.audit } : {}), ...(e.idem ? { idem: e.idem } : {}) })));
        for (const r of replies) transcript.push(norm(r));
        return replies;
      };
      const call: Call = async (method, req, o) => {
        const { replies } = await d.run([{ id: id++, method, deadline: o?.deadline ?? Date.now() + 60_000, req, ...(o?.audit ? { audit: o.audit } : {}), ...(o?.idem ? { idem: o.idem } : {}) }]);
        transcript.push(norm(replies[0]));
        return replies[0]!;
      };
      // Snapshot reads on the same client (a node keeps them on one of their own; no connection is lost here).
      const readers = pgReaders(sql, new TxClient(() => sql));
      const read: Read = async (f) => {
        const r = await f(readers);
        transcript.push(norm(r));
        return r;
      };
      await scenario(call, batch, read);
      const tables: Record<string, unknown[]> = {};
      for (const table of PARITY_TABLES) tables[table] = ((await sql.unsafe(`SELECT * FROM ${table}`)) as unknown[]).map((r) => norm(without(PG_ONLY_COLUMNS, table, r as object))).sort(byJson);
      return { transcript, tables };
    } finally {
      await sql.end({ timeout: 1 });
    }
  }

  return {
    /** The scenario on both backends: what each answered and held. */
    async run(scenario: Scenario): Promise<{ sqlite: Run; pg: Run }> {
      n++;
      return { sqlite: await onSqlite(scenario), pg: await onPostgres(scenario) };
    },
  };
}


/**
 * Runs `scenario` on both backends and asserts the same transcript (replies and reads) and the
 * same rows; the SQLite run is returned for checks that the scenario did what it meant to.
 */
export async function checkParity(t: Tap & { same(a: unknown, b: unknown, msg: string): unknown }, pg: PgServer, name: string, scenario: Scenario, opts: { stateHistoryKeep?: number } = {}): Promise<Run> {
  const p = await parity(t, pg, opts);
  const { sqlite, pg: onPg } = await p.run(scenario);
  t.same(onPg.transcript, sqlite.transcript, `${name}: the same replies and reads`);
  t.same(onPg.tables, sqlite.tables, `${name}: the same rows`);
  return sqlite;
}
