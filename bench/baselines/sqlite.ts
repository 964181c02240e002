/**
 * The storage ceilings of bench/suites/speed.ts, run as their own process on the server's core:
 *   node dist/bench/baselines/sqlite.js <dir> <seconds>
 *
 *   bare_append   1 KB rows appended to a rowid table, 64 per WAL + synchronous=FULL transaction:
 *                 a bare better-sqlite3 group-commit loop (no keys, no history).
 *   writer_put    koor's own writer dispatcher (createDispatcher) committing batches of 34
 *                 state.put over 1000 keys (what 50 connections give): the schema's real work —
 *                 version check, version log, retention of 100 versions — with no HTTP and
 *                 no thread hop. No server can PUT faster than this on the same core.
 *   writer_publish the same for events.publish (1 KB data).
 * Prints one JSON object: rows/s and CPU µs per row (user, sys) for each.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { WRITER_LIMITS } from '../../src/shared/limits.js';
import { openWriterDb } from '../../workers/writer/sqlite/db.js';
import { sqliteDriver } from '../../workers/writer/sqlite/driver.js';
import { createDispatcher } from '../../workers/writer/dispatch.js';
import { makeDoc } from '../lib/doc.js';

interface Point {
  rows_per_s: number;
  user_us: number;
  sys_us: number;
}

/** Runs `step` (which commits `rows` rows) for `seconds` after a 1/4 warm-up; rows/s and CPU. */
async function measure(seconds: number, rows: number, step: () => void | Promise<void>): Promise<Point> {
  const warmUntil = performance.now() + (seconds * 1000) / 4;
  while (performance.now() < warmUntil) await step();
  let n = 0;
  const u0 = process.cpuUsage();
  const t0 = performance.now();
  const until = t0 + seconds * 1000;
  while (performance.now() < until) {
    await step();
    n += rows;
  }
  const wall = (performance.now() - t0) / 1000;
  const u = process.cpuUsage(u0);
  return { rows_per_s: Math.round(n / wall), user_us: Math.round((u.user / n) * 10) / 10, sys_us: Math.round((u.system / n) * 10) / 10 };
}

async function bareAppend(file: string, seconds: number, value: Buffer): Promise<Point> {
  const db = new Database(file);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB NOT NULL)');
    const ins = db.prepare('INSERT INTO t (v) VALUES (?)');
    const tx = db.transaction(() => {
      for (let i = 0; i < 64; i++) ins.run(value);
    });
    return await measure(seconds, 64, () => tx.immediate());
  } finally {
    db.close();
  }
}

async function writerLoop(file: string, seconds: number, method: 'state.put' | 'events.publish', value: Buffer): Promise<Point> {
  const db = openWriterDb(file, WRITER_LIMITS);
  const driver = sqliteDriver(db, WRITER_LIMITS.wal_checkpoint_bytes);
  try {
    const d = createDispatcher(driver, { stateHistoryKeep: 100 });
    const data = value.toString('utf8');
    let id = 1;
    const BATCH = 34;
    return await measure(seconds, BATCH, async () => {
      const envs = [];
      for (let j = 0; j < BATCH; j++, id++) {
        const req = method === 'state.put' ? { key: `bench/put/${id % 1000}`, value: new Uint8Array(value), content_type: 'application/json', updated_by: '' } : { topic: 'bench.publish', data, source: '' };
        envs.push({ id, method, deadline: Date.now() + 60_000, req });
      }
      const { commitError } = await d.run(envs);
      if (commitError) throw commitError;
      driver.afterBatch(false); // as the writer thread does after the replies left
    });
  } finally {
    await driver.close(); // its checkpointer thread too
  }
}

const [dir, secondsText] = process.argv.slice(2);
if (!dir || !secondsText) {
  process.stderr.write('usage: baseline-sqlite <dir> <seconds>\n');
  process.exit(2);
}
const seconds = Number(secondsText);
const value = Buffer.from(makeDoc());
fs.mkdirSync(dir, { recursive: true });
const out = {
  bare_append: await bareAppend(path.join(dir, 'bare.db'), seconds, value),
  writer_put: await writerLoop(path.join(dir, 'put.db'), seconds, 'state.put', value),
  writer_publish: await writerLoop(path.join(dir, 'publish.db'), seconds, 'events.publish', value),
};
process.stdout.write(`${JSON.stringify(out)}\n`);
