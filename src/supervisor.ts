import fs from 'node:fs';
import type { Config } from './config.js';
import { restoreDataDir } from './data-dir.js';
import type { Logger } from './log.js';
import { startServer, type KoorServer } from './server.js';

export interface Supervised {
  /** The server running now (a live restore replaces it). */
  readonly current: KoorServer;
  close(): Promise<void>;
}

/**
 * Runs the server and restarts it in place for a live restore (POST /api/admin/restore): the
 * old server closes (subscribers get 1012) but its listening sockets stay, the uploaded snapshot
 * replaces data.db (the current file kept aside), and a new server starts on those sockets.
 * Nothing of the old data can stay in a cache, because nothing of the old server stays. If the
 * new server cannot start, `onFatal` decides (koor-server exits 1; its service manager restarts it).
 */
export async function startSupervised(config: Config, opts: { log: Logger; onFatal: (err: unknown) => void }): Promise<Supervised> {
  const { log } = opts;
  let server: KoorServer;
  let restarting: Promise<void> | null = null;
  const start = (front?: KoorServer['front']) => startServer(config, { log, onRestore: (file) => void restart(file), ...(front ? { front } : {}) });

  const restart = (file: string): Promise<void> =>
    (restarting ??= (async () => {
      // The listeners stay (same address, same connections; requests meanwhile get 503); the
      // rest of the server is closed and started again on the restored file.
      const front = server.front;
      await server.close({ restart: true });
      try {
        const { keptAs, info } = await restoreDataDir(config.dataDir, file);
        log.warn({ keptAs, ...info.counts }, 'restored a snapshot; starting on it');
      } catch (err) {
        log.error({ err }, 'restore failed; starting on the data as it was');
      } finally {
        for (const f of [file, `${file}-wal`, `${file}-shm`]) fs.rmSync(f, { force: true });
      }
      try {
        server = await start(front);
      } catch (err) {
        opts.onFatal(err);
      } finally {
        restarting = null;
      }
    })());

  server = await start();
  return {
    get current() {
      return server;
    },
    close: async () => {
      await restarting;
      await server.close();
    },
  };
}
