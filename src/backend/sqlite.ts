import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../config.js';
import { ensureDataDir, lockDataDir, restoreDataDir } from '../data-dir.js';
import { startLocalClock } from '../shared/local-clock.js';
import { openReader, ReaderMap, type ReadDb } from './read-db.js';
import { countsText, type Backend } from './backend.js';
import { turnSnapshot } from './reads.js';

/**
 * The embedded SQLite file (data.db in the data directory): one server per directory (a lock
 * held until close, dropped by the OS on a crash), this process's writer thread the only writer,
 * reads on the front's own read-only connection.
 */
export function sqliteBackend(config: Config): Backend {
  const dbPath = path.join(config.dataDir, 'data.db');
  ensureDataDir(config.dataDir);
  const lock = lockDataDir(config.dataDir);
  // Before the writer thread starts: it reads the same base (local-clock.ts).
  const wallAhead = startLocalClock(config.dataDir);
  let reader: ReadDb | null = null;
  return {
    label: dbPath,
    logFields: { dataDir: config.dataDir, sync: config.sync },
    writerTarget: { dbPath },
    deliveryDbPath: dbPath,
    // Staged beside data.db (same file system); a restore restarts the server on the file.
    snapshots: { stagingDir: config.dataDir, backupJob: (dest) => ({ source: dbPath, dest }), restoreJob: null },
    othersWrite: false,
    async open(log) {
      if (Math.abs(wallAhead) > 2000) log.warn({ wallAheadMs: wallAhead }, 'the wall clock moved since this boot first ran the server on this data directory; leases and TTLs keep to the monotonic clock, data times stay off by this much until the next boot (or until clock.json is removed with the server stopped)');
      reader = openReader(dbPath);
      const map = new ReaderMap(reader);
      return { kind: 'sqlite', db: reader, snapshot: turnSnapshot(reader, map), map };
    },
    // One writer behind this process: a write's reply is the whole story, answered synchronously.
    fanout: async (make) => make.local(),
    listen: async () => null,
    size() {
      let n = 0;
      for (const f of [dbPath, `${dbPath}-wal`]) {
        try {
          n += fs.statSync(f).size;
        } catch {
          // absent (no WAL yet)
        }
      }
      return n;
    },
    async startJobs(jobs) {
      for (const j of jobs) j.start();
    },
    async stopJobs() {},
    leader: null,
    async close() {
      try {
        reader?.close();
      } finally {
        lock.release();
      }
    },
  };
}

/** --restore on SQLite: the backup becomes data.db, the current file kept aside. */
export async function restoreDataFile(config: Config, file: string): Promise<string> {
  const { info, keptAs } = await restoreDataDir(config.dataDir, file);
  return `koor-server: restored ${config.dataDir}/data.db from ${file}\n` + (keptAs ? `  previous data file kept as ${keptAs}\n` : '') + countsText(info.counts);
}
