#!/usr/bin/env node
// First: V8's flags before any code runs (./v8-tuning.ts).
import './v8-tuning.js';
import fs from 'node:fs';
import { ConfigError, loadConfig, USAGE } from './config.js';
import { migrateIntoDatabase, restoreOffline } from './backend/choose.js';
import { vacuumDataDir } from './data-dir.js';
import { createLogger } from './log.js';
import { startSupervised } from './supervisor.js';
import { SHUTDOWN_DEADLINE_MS } from './shared/limits.js';

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
  if (config.restore !== null) {
    try {
      process.stdout.write(await restoreOffline(config, config.restore));
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
      process.stdout.write(await migrateIntoDatabase(config, config.migrateFrom));
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
    if (stopping) {
      // An operator's second signal: stop waiting (nothing acknowledged is lost; the WAL, or
      // PostgreSQL, holds every commit).
      log.warn({ signal }, 'second signal: exiting without waiting for the shutdown to finish');
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, 'shutting down');
    setTimeout(() => {
      log.error({ after_ms: SHUTDOWN_DEADLINE_MS }, 'shutdown did not finish in time: exiting');
      process.exit(1);
    }, SHUTDOWN_DEADLINE_MS).unref();
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

void main();
