/**
 * Which errors mean PostgreSQL cannot be reached, apart from the client (src/shared/pg.ts) so
 * that a SQLite server's threads can ask without loading postgres.js (start-up), and
 * how long to wait before trying to reach it again.
 */
import { PG_RECONNECT_BACKOFF_MAX_MS, PG_RECONNECT_BACKOFF_MS } from './limits.js';

/**
 * The wait before the next try to reach PostgreSQL, ms, after `failures` tries in a row that
 * failed (0: the first retry): PG_RECONNECT_BACKOFF_MS doubling up to the max. One rule for every
 * loop that reconnects: postgres.js's own (reconnectDelayS, src/shared/pg.ts), the writer's
 * (workers/writer/pg/driver.ts) and the front's transactions (src/shared/pg-tx.ts).
 */
export const reconnectWaitMs = (failures: number): number => Math.min(PG_RECONNECT_BACKOFF_MS * 2 ** Math.min(failures, 30), PG_RECONNECT_BACKOFF_MAX_MS);

/**
 * When a loop that connects to PostgreSQL may try again (the writer's driver, the front's
 * transaction client): after a try that failed to connect, none until reconnectWaitMs has passed,
 * each refused meanwhile with the last failure; after a connection that worked, at once.
 */
export class Reconnects {
  /** Tries in a row that failed to connect. */
  private failures = 0;
  private retryAt = 0;
  /** Why the last try failed (what a caller refused meanwhile is told). */
  private lastFailure: Error | null = null;

  /** Throws, as a connection failure, while the wait after a failed try runs. */
  check(): void {
    const wait = this.retryAt - Date.now();
    if (wait <= 0) return;
    const code = (this.lastFailure as { code?: unknown } | null)?.code;
    throw Object.assign(new Error(`PostgreSQL unreachable (${this.lastFailure?.message ?? 'connection lost'}); next try in ${wait} ms`), {
      code: typeof code === 'string' ? code : 'CONNECTION_CLOSED',
    });
  }

  /** The connection worked (or was lost after it did): the next try is at once. */
  connected(): void {
    this.failures = 0;
    this.retryAt = 0;
  }

  /** A try to connect failed with `err`. */
  failed(err: Error | null): void {
    this.retryAt = Date.now() + reconnectWaitMs(this.failures++);
    this.lastFailure = err;
  }
}

/**
 * Text PostgreSQL cannot store: U+0000 in a text parameter (22021, "invalid byte sequence for
 * encoding UTF8: 0x00") or in JSON it parses (22P05). The request's fault, not the server's.
 */
export function isUnstorableText(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === '22021' || code === '22P05';
}

/**
 * A broken or restarting PostgreSQL (cluster mode): SQLSTATE classes of connection failures,
 * shutdown and recovery, too many connections, postgres.js's socket errors, and a read past
 * --read-deadline (src/domains/readers.ts).
 */
export function isDatabaseUnavailable(err: unknown): boolean {
  const e = err as { code?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : '';
  if (code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03' || code === '53300') return true;
  return ['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED', 'CONNECT_TIMEOUT', 'READ_TIMEOUT'].includes(code);
}
