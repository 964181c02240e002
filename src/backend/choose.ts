import type { Config } from '../config.js';
import type { Backend } from './backend.js';

/** The backend `config` asks for: PostgreSQL when a database URL is set (cluster mode), else the data directory's SQLite file. */
export async function chooseBackend(config: Config): Promise<Backend> {
  if (config.database !== '') return (await import('./postgres.js')).postgresBackend(config);
  return (await import('./sqlite.js')).sqliteBackend(config);
}

/** `koor-server --restore FILE` (no server running): the backup replaces the data; what to print. */
export async function restoreOffline(config: Config, file: string): Promise<string> {
  if (config.database !== '') return (await import('./postgres.js')).restoreDatabase(config, file);
  return (await import('./sqlite.js')).restoreDataFile(config, file);
}

/** `koor-server --migrate-from FILE` (cluster mode): a SQLite data file copied into an empty PostgreSQL; what to print. */
export async function migrateIntoDatabase(config: Config, file: string): Promise<string> {
  return (await import('./postgres.js')).copyIntoDatabase(config, file);
}
