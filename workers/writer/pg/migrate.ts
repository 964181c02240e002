import type { Sql } from 'postgres';
import { PG_MIGRATIONS, type PgMigration } from '../../../schemas/db/pg-migrations.js';
import { beginOrDrop } from '../../../src/shared/pg-tx.js';

/**
 * The advisory lock key migrations hold (any constant; "koor" in ASCII). Every node that starts
 * takes it for the length of its migration transaction, so exactly one applies what is missing
 * and the others then find nothing to do.
 */
const MIGRATION_LOCK = 0x6b6f6f72;

/**
 * Applies the migrations the database lacks, in one transaction under the advisory lock
 * (whichever node starts first does it; the rest wait for the lock, then see the new version).
 * Returns the version before and after. Refuses a database made by a newer koor. A lost
 * connection fails it, not the thread, and ends `sql` (beginOrDrop).
 */
export async function migratePg(sql: Sql, migrations: readonly PgMigration[] = PG_MIGRATIONS): Promise<{ from: number; to: number }> {
  return beginOrDrop(sql, '', async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`;
    await tx`CREATE TABLE IF NOT EXISTS koor_schema (version integer NOT NULL, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`;
    const [row] = await tx<{ v: number | null }[]>`SELECT max(version) AS v FROM koor_schema`;
    const from = row?.v ?? 0;
    const latest = migrations.at(-1)?.version ?? 0;
    if (from > latest) throw new Error(`database schema version ${from} is newer than this server (${latest}); upgrade koor`);
    for (const m of migrations) {
      if (m.version <= from) continue;
      await tx.unsafe(m.sql);
      await tx`INSERT INTO koor_schema (version, name) VALUES (${m.version}, ${m.name})`;
    }
    return { from, to: Math.max(from, latest) };
  });
}
