/**
 * The write path of a cluster configuration: commits (koor's writer batches), rows per commit and
 * fsyncs, read from every node's metrics and PostgreSQL's pg_stat_wal and pg_stat_statements
 * before and after a run.
 */
import type http from 'node:http';
import type { openPg } from '../../src/shared/pg.js';
import type { ServerProc } from '../lib/processes.js';
import type { Config } from './configs.js';
import { request } from './http.js';

export type Sql = ReturnType<typeof openPg>;

export interface Cluster {
  config: Config;
  nodes: ServerProc[];
  /** A connection to this configuration's database (PostgreSQL only), for pg_stat_wal. */
  sql: Sql | null;
  /** pg_stat_statements is loaded and created in the database. */
  statements: boolean;
  agent: http.Agent;
}

export interface Counters {
  batches: number;
  rows: number;
  commit_s: number;
  wal_syncs: number | null;
  wal_sync_ms: number | null;
  /** Statements PostgreSQL ran in this database (pg_stat_statements; null without it). */
  statements: number | null;
}

/** Prometheus text → value of `name` (a bare sample, no labels). */
function metric(text: string, name: string): number {
  const m = new RegExp(`^${name}(?:\\{\\})? ([\\d.eE+-]+)$`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

/** Every node's writer batches so far (koor_writer_batch_size, _commit_seconds); PostgreSQL's WAL flushes. */
export async function counters(c: Cluster): Promise<Counters> {
  const k: Counters = { batches: 0, rows: 0, commit_s: 0, wal_syncs: null, wal_sync_ms: null, statements: null };
  for (const n of c.nodes) {
    // An idempotent GET: once more if the socket was closed under it.
    const r = await request(c.agent, `${n.url}/metrics`, 'GET').catch(() => request(c.agent, `${n.url}/metrics`, 'GET'));
    k.batches += metric(r.body, 'koor_writer_batch_size_count');
    k.rows += metric(r.body, 'koor_writer_batch_size_sum');
    k.commit_s += metric(r.body, 'koor_writer_commit_seconds_sum');
  }
  if (c.sql) {
    const [w] = await c.sql`SELECT wal_sync, wal_sync_time FROM pg_stat_wal`;
    k.wal_syncs = Number(w?.wal_sync ?? NaN);
    k.wal_sync_ms = Number(w?.wal_sync_time ?? NaN);
    if (c.statements) {
      const [st] = await c.sql`SELECT coalesce(sum(calls), 0) AS calls FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())`;
      k.statements = Number(st?.calls ?? NaN);
    }
  }
  return k;
}

export interface WritePath {
  /** Write transactions (writer batches, all nodes) per second. */
  commits_per_s: number | null;
  rows_per_commit: number | null;
  /** Mean time to run and commit one batch (koor's writer; fsync included). */
  commit_ms: number | null;
  /** SQLite: one per commit (--sync full); PostgreSQL: WAL flushes (pg_stat_wal.wal_sync). */
  fsyncs_per_s: number | null;
  /** PostgreSQL: mean time of one WAL flush (track_wal_io_timing). */
  fsync_ms: number | null;
  /** PostgreSQL: statements run (all connections of all nodes: each one a round trip), and per commit. */
  statements: number | null;
  statements_per_commit: number | null;
}

export function writePath(a: Counters, b: Counters, wallS: number): WritePath {
  const stmts = a.statements === null || b.statements === null ? null : b.statements - a.statements;
  const fin = (x: number) => (Number.isFinite(x) ? x : null);
  const batches = b.batches - a.batches;
  const syncs = a.wal_syncs === null || b.wal_syncs === null ? batches : b.wal_syncs - a.wal_syncs;
  const r1 = (x: number) => Math.round(x * 10) / 10;
  const r2 = (x: number) => Math.round(x * 100) / 100;
  return {
    commits_per_s: fin(Math.round(batches / wallS)),
    rows_per_commit: batches > 0 ? fin(r1((b.rows - a.rows) / batches)) : null,
    commit_ms: batches > 0 ? fin(r2(((b.commit_s - a.commit_s) / batches) * 1000)) : null,
    fsyncs_per_s: fin(Math.round(syncs / wallS)),
    fsync_ms: a.wal_sync_ms !== null && b.wal_sync_ms !== null && syncs > 0 ? fin(r2((b.wal_sync_ms - a.wal_sync_ms) / syncs)) : null,
    statements: stmts === null ? null : fin(stmts),
    statements_per_commit: stmts !== null && batches > 0 ? fin(r1(stmts / batches)) : null,
  };
}

/** PostgreSQL statements per operation between two readings (null without pg_stat_statements). */
export function perOp(a: Counters, b: Counters, ops: number): number | null {
  return a.statements === null || b.statements === null || ops === 0 ? null : Math.round(((b.statements - a.statements) / ops) * 10) / 10;
}
