#!/usr/bin/env node
import fs from 'node:fs';
import { ConfigError, loadConfig, redactUrl, USAGE } from './config.js';
import type { SnapshotCounts } from './shared/snapshot.js';
import { runBackupThread } from './rpc/backup-client.js';
import { restoreDataDir, vacuumDataDir } from './data-dir.js';
import { createLogger } from './log.js';
import { startSupervised } from './supervisor.js';

/** koor-server: parse config, start, stop cleanly on SIGINT/SIGTERM. */
async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig(process.argv.slice(2));
  } catch (e) {
    // One line, never a stack trace: a bad setting, or the environment itself (a deleted cwd).
    process.stderr.write(`koor-server: ${e instanceof ConfigError ? e.message : `cannot read the configuration: ${(e as Error).message}`}\n`);
    process.exit(e instanceof ConfigError ? e.exitCode : 1);
  }
  if (config.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (config.vacuum) {
    try {
      const { before, after } = vacuumDataDir(config.dataDir);
      const mb = (n: number) => (n / 1024 / 1024).toFixed(1);
      process.stdout.write(`koor-server: ${config.dataDir}/data.db vacuumed: ${mb(before)} MB → ${mb(after)} MB\n`);
    } catch (e) {
      process.stderr.write(`koor-server: ${(e as Error).message}\n`);
      process.exit(1);
    }
    return;
  }
  if (config.restore !== null && config.database !== '') {
    // Cluster mode: the backup replaces the PostgreSQL data (running nodes resume on it).
    try {
      const { counts, rows } = await copyIntoDatabase(config.database, config.restore, true);
      process.stdout.write(`koor-server: restored ${redactUrl(config.database)} from ${config.restore} (${rows} rows)\n${countsText(counts)}`);
    } catch (e) {
      process.stderr.write(`koor-server: ${(e as Error).message}\n`);
      process.exit(1);
    }
    return;
  }
  if (config.restore !== null) {
    try {
      const { info, keptAs } = await restoreDataDir(config.dataDir, config.restore);
      const c = info.counts;
      process.stdout.write(
        `koor-server: restored ${config.dataDir}/data.db from ${config.restore}\n` +
          (keptAs ? `  previous data file kept as ${keptAs}\n` : '') +
          countsText(c),
      );
    } catch (e) {
      process.stderr.write(`koor-server: ${(e as Error).message}\n`);
      process.exit(1);
    }
    return;
  }
  if (config.version) {
    const pkg = JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    process.stdout.write(`koor-server ${pkg.version}\n`);
    return;
  }
  if (config.migrateFrom !== null) {
    try {
      const { counts, rows } = await copyIntoDatabase(config.database, config.migrateFrom, false);
      process.stdout.write(`koor-server: copied ${config.migrateFrom} into ${redactUrl(config.database)} (${rows} rows)\n${countsText(counts)}`);
    } catch (e) {
      process.stderr.write(`koor-server: --migrate-from ${config.migrateFrom}: ${(e as Error).message}\n`);
      process.exit(1);
    }
  }
  const log = createLogger(config.logLevel);
  let server;
  try {
    server = await startSupervised(config, {
      log,
      onFatal: (err) => {
        process.stderr.write(`koor-server: failed to restart after a restore: ${(err as Error).message}\n`);
        process.exit(1);
      },
    });
  } catch (e) {
    const msg = e instanceof ConfigError ? e.message : `failed to start: ${(e as Error).message}`;
    process.stderr.write(`koor-server: ${msg}\n`);
    process.exit(1);
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    server.close().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('uncaughtException', (err) => {
    log.fatal({ err }, 'uncaught exception');
    process.exit(1);
  });
  process.on('unhandledRejection', (err) => {
    log.fatal({ err }, 'unhandled rejection');
    process.exit(1);
  });
}

/**
 * --restore and --migrate-from in cluster mode: the snapshot copied into PostgreSQL on a backup
 * thread (as a live restore does), before any server starts; no deadline (the operator waits).
 */
async function copyIntoDatabase(url: string, file: string, replace: boolean): Promise<{ counts: SnapshotCounts; rows: number }> {
  const done = await runBackupThread({ database_url: url, restore: file, replace }, null);
  if (!done.ok) throw new Error(done.error);
  return { counts: done.counts, rows: done.rows ?? 0 };
}

function countsText(c: SnapshotCounts): string {
  return `  state keys: ${c.state_keys}\n  rules: ${c.rules}\n  specs: ${c.specs}\n  events: ${c.events}\n  instances: ${c.instances}\n`;
}

void main();
