/** The advisory locks of cluster mode's writes (the writer and a restore's copy). */

/**
 * The advisory lock every write transaction takes first: writes serialise cluster-wide, one
 * batch at a time, as they do behind SQLite's single writer — so every method keeps the exact
 * semantics it has there (CAS, claims and lease conflicts have one winner; event ids are handed
 * out in commit order) without per-method locking. Reads never take it. ("kwrt" in ASCII.)
 */
export const WRITE_LOCK = 0x6b777274;

/** Uint8Array → Buffer without a copy (postgres.js sends a Buffer parameter as bytea). */
export function bytea(v: Uint8Array): Buffer {
  return Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}
