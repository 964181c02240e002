/**
 * Which PostgreSQL client for cluster mode: both `pg` and `postgres` measured on the PUT path,
 * to pick one. A throwaway PostgreSQL (bench/lib/postgres.ts, durable settings) on core 0;
 * this process, the client, on core 1. The write is koor's state PUT with its history: lock the
 * current row, archive it into state_history, upsert the new version, 1 KB values over 1000 keys,
 * committed in groups of 34 (what 50 connections give the SQLite writer), one group in flight
 * per lane:
 *
 *   per-put     one statement per PUT inside BEGIN … COMMIT (pg: one round trip each;
 *               postgres: pipelined within the transaction)
 *   batched     the whole group as ONE statement over unnest()ed arrays (one round trip, an
 *               implicit transaction)
 * each with 1 and 4 lanes (connections with a group in flight at once; PostgreSQL overlaps their
 * WAL flushes). Reports rows/s, the client's CPU per row and PostgreSQL's (all backends).
 *
 *   npm run bench -- pgclients [--quick]
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import pg from 'pg';
import postgres from 'postgres';
import { makeDoc } from '../lib/doc.js';
import { fmtInt } from '../lib/format.js';
import { pin } from '../lib/processes.js';
import type { BenchOptions, BenchTable } from '../lib/suite.js';
import { postgresCpu, startPostgres, type Postgres } from '../lib/postgres.js';

const GROUP = 34;
const KEYS = 1000;

const SCHEMA = `
  DROP TABLE IF EXISTS state, state_history;
  CREATE TABLE state (key text PRIMARY KEY, value bytea NOT NULL, version bigint NOT NULL, hash text NOT NULL,
    content_type text NOT NULL, updated_at text NOT NULL, updated_by text NOT NULL DEFAULT '');
  CREATE TABLE state_history (key text NOT NULL, version bigint NOT NULL, value bytea NOT NULL, hash text NOT NULL,
    content_type text NOT NULL, updated_at text NOT NULL, updated_by text NOT NULL DEFAULT '', PRIMARY KEY (key, version));
`;

const PUT_ONE = `
  WITH old AS (SELECT * FROM state WHERE key = $1 FOR UPDATE),
  arch AS (INSERT INTO state_history (key, version, value, hash, content_type, updated_at, updated_by)
           SELECT key, version, value, hash, content_type, updated_at, updated_by FROM old ON CONFLICT DO NOTHING)
  INSERT INTO state (key, value, version, hash, content_type, updated_at, updated_by)
  VALUES ($1, $2, COALESCE((SELECT version FROM old), 0) + 1, $3, $4, $5, $6)
  ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, version = EXCLUDED.version, hash = EXCLUDED.hash,
    content_type = EXCLUDED.content_type, updated_at = EXCLUDED.updated_at, updated_by = EXCLUDED.updated_by
  RETURNING version`;

const PUT_GROUP = `
  WITH input AS (SELECT * FROM unnest($1::text[], $2::bytea[], $3::text[], $4::text[], $5::text[], $6::text[])
                 AS t(key, value, hash, content_type, updated_at, updated_by)),
  old AS (SELECT s.* FROM state s JOIN input USING (key) FOR UPDATE OF s),
  arch AS (INSERT INTO state_history (key, version, value, hash, content_type, updated_at, updated_by)
           SELECT key, version, value, hash, content_type, updated_at, updated_by FROM old ON CONFLICT DO NOTHING)
  INSERT INTO state (key, value, version, hash, content_type, updated_at, updated_by)
  SELECT i.key, i.value, COALESCE(o.version, 0) + 1, i.hash, i.content_type, i.updated_at, i.updated_by
  FROM input i LEFT JOIN old o USING (key)
  ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, version = EXCLUDED.version, hash = EXCLUDED.hash,
    content_type = EXCLUDED.content_type, updated_at = EXCLUDED.updated_at, updated_by = EXCLUDED.updated_by
  RETURNING key, version`;

interface Put {
  key: string;
  value: Buffer;
  hash: string;
}

/** A group of distinct keys for `lane` of `lanes` (lanes never touch the same key). */
function groupOf(n: number, lane: number, lanes: number, value: Buffer, hash: string): Put[] {
  const per = Math.floor(KEYS / lanes);
  const out: Put[] = [];
  for (let i = 0; i < GROUP; i++) out.push({ key: `bench/put/${lane * per + ((n * GROUP + i) % per)}`, value, hash });
  return out;
}

const NOW = '2026-01-01 00:00:00';

/** One client × strategy: commits groups for `seconds` on `lanes` lanes; rows/s and CPU. */
interface Driver {
  /** Commits one group; resolves after COMMIT. */
  commit(lane: number, group: Put[]): Promise<void>;
  close(): Promise<void>;
}

async function pgDriver(url: string, lanes: number, batched: boolean): Promise<Driver> {
  const clients = await Promise.all(
    Array.from({ length: lanes }, async () => {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      return c;
    }),
  );
  return {
    async commit(lane, group) {
      const c = clients[lane]!;
      if (batched) {
        await c.query({ name: 'put_group', text: PUT_GROUP, values: [group.map((p) => p.key), group.map((p) => p.value), group.map((p) => p.hash), group.map(() => 'application/json'), group.map(() => NOW), group.map(() => '')] });
        return;
      }
      await c.query('BEGIN');
      for (const p of group) await c.query({ name: 'put_one', text: PUT_ONE, values: [p.key, p.value, p.hash, 'application/json', NOW, ''] });
      await c.query('COMMIT');
    },
    close: async () => {
      await Promise.all(clients.map((c) => c.end()));
    },
  };
}

async function postgresDriver(url: string, lanes: number, batched: boolean): Promise<Driver> {
  // One connection per lane, statements prepared.
  const sqls = Array.from({ length: lanes }, () => postgres(url, { max: 1, prepare: true, onnotice: () => {} }));
  return {
    async commit(lane, group) {
      const sql = sqls[lane]!;
      if (batched) {
        // bytea[] spelled out (type oid 1001): postgres.js would send the Buffers as one bytea.
        // (Arrays need the types it fetches at connect: fetch_types stays on.)
        await sql.unsafe(PUT_GROUP, [group.map((p) => p.key), sql.array(group.map((p) => p.value) as never, 1001), group.map((p) => p.hash), group.map(() => 'application/json'), group.map(() => NOW), group.map(() => '')] as never, { prepare: true });
        return;
      }
      await sql.begin((tx) => group.map((p) => tx.unsafe(PUT_ONE, [p.key, p.value, p.hash, 'application/json', NOW, ''], { prepare: true })));
    },
    close: async () => {
      await Promise.all(sqls.map((s) => s.end({ timeout: 5 })));
    },
  };
}

interface Point {
  client: string;
  strategy: string;
  lanes: number;
  rows_per_s: number;
  client_us_per_row: number;
  server_us_per_row: number;
  groups: number;
}

async function measure(pgsrv: Postgres, client: 'pg' | 'postgres', batched: boolean, lanes: number, seconds: number): Promise<Point> {
  const value = Buffer.from(makeDoc());
  const hash = createHash('sha256').update(value).digest('hex');
  const setup = postgres(pgsrv.url, { max: 1, onnotice: () => {} });
  await setup.unsafe(SCHEMA);
  await setup.end();
  const d = client === 'pg' ? await pgDriver(pgsrv.url, lanes, batched) : await postgresDriver(pgsrv.url, lanes, batched);
  try {
    let rows = 0;
    let groups = 0;
    let stop = false;
    const lane = async (i: number) => {
      for (let n = 0; !stop; n++) {
        await d.commit(i, groupOf(n, i, lanes, value, hash));
        rows += GROUP;
        groups++;
      }
    };
    // Warm-up: every key exists, statements prepared.
    // Promise.all at once: a lane that fails rejects it, never an unhandled rejection.
    const warm = Promise.all(Array.from({ length: lanes }, (_, i) => lane(i)));
    await Promise.race([warm, new Promise((r) => setTimeout(r, 1000))]);
    stop = true;
    await warm;
    stop = false;
    rows = 0;
    groups = 0;
    const u0 = process.cpuUsage();
    const s0 = postgresCpu(pgsrv.pid);
    const t0 = performance.now();
    const running = Promise.all(Array.from({ length: lanes }, (_, i) => lane(i)));
    await Promise.race([running, new Promise((r) => setTimeout(r, seconds * 1000))]);
    stop = true;
    await running;
    const wall = (performance.now() - t0) / 1000;
    const u = process.cpuUsage(u0);
    const s1 = postgresCpu(pgsrv.pid);
    return {
      client,
      strategy: batched ? 'batched' : 'per-put',
      lanes,
      rows_per_s: Math.round(rows / wall),
      client_us_per_row: Math.round(((u.user + u.system) / rows) * 10) / 10,
      server_us_per_row: Math.round(((s1 - s0) / rows) * 1e7) / 10,
      groups,
    };
  } finally {
    await d.close();
  }
}

export async function run(opts: BenchOptions): Promise<Record<string, unknown>> {
  const seconds = opts.quick ? 2 : 5;
  const srv = await startPostgres();
  if ('skipped' in srv) return { ok: true, skipped: srv.skipped, warnings: [`pgclients: skipped: ${srv.skipped}`] };
  const points: Point[] = [];
  try {
    opts.log(`${srv.version} on core 0 (${srv.url}); this process on core 1`);
    pin(srv.pid, 0);
    pin(process.pid, 1);
    for (const client of ['pg', 'postgres'] as const) {
      for (const batched of [false, true]) {
        for (const lanes of [1, 4]) {
          opts.log(`  ${client} ${batched ? 'batched' : 'per-put'}, ${lanes} lane(s)…`);
          points.push(await measure(srv, client, batched, lanes, seconds));
        }
      }
    }
  } finally {
    try {
      execFileSync('taskset', ['-a', '-p', '-c', '0-1', String(process.pid)], { stdio: 'ignore' });
    } catch {
      // single-core machine or no taskset
    }
    srv.stop();
  }
  const tables: BenchTable[] = [
    {
      title: `PostgreSQL clients on koor's state PUT (1 KB, history archive, groups of ${GROUP} per commit, ${seconds} s each; server core 0, client core 1)`,
      columns: ['client', 'strategy', 'lanes', 'rows/s', 'client µs/row', 'server µs/row'],
      rows: points.map((p) => [p.client, p.strategy, String(p.lanes), fmtInt(p.rows_per_s), String(p.client_us_per_row), String(p.server_us_per_row)]),
    },
  ];
  return { ok: true, postgres: srv.version, group: GROUP, points, tables };
}
