import { VERSION_RING_DROPS_PER_WRITE, VERSION_RING_MAX } from './limits-features.js';

/**
 * A key's version ring (SQLite): the `id`s of its kept versions' rows in the version
 * log, oldest first, kept in its state row (`state.ring`). A write appends its new row's id and
 * drops the oldest while more than `--state-history-keep` remain, so the version that falls out
 * is found without the log's (key, version) index, whose random leaf per write was 44 % of a
 * durable PUT's WAL frames. The ring's last id is the current version's, its first the oldest
 * kept; versions are consecutive, so the i-th id is version `current - count + 1 + i` (a data
 * file from before the ring may have gaps: readers check the row's version).
 *
 * Encoding: the first id, then each id's difference from the one before, as zigzag LEB128
 * varints: a key among a thousand written in turn takes 2 bytes per version.
 */

/** Whether a data file with this `--state-history-keep` keeps rings rather than the (key, version) index. */
export const keepsRings = (keep: number): boolean => keep > 0 && keep <= VERSION_RING_MAX;

/** Walks a ring's ids, oldest first: `visit` gets each with the offset its bytes end at. */
function walk(ring: Uint8Array, visit: (id: number, end: number) => void): void {
  let id = 0;
  let n = 0;
  let scale = 1;
  for (let i = 0; i < ring.length; i++) {
    const b = ring[i]!;
    n += (b & 0x7f) * scale;
    if (b >= 0x80) {
      scale *= 128;
      continue;
    }
    // zigzag: even = +n/2, odd = -(n+1)/2
    id += n % 2 === 0 ? n / 2 : -(n + 1) / 2;
    visit(id, i + 1);
    n = 0;
    scale = 1;
  }
}

/** The ids of a ring, oldest first. */
export function ringIds(ring: Uint8Array): number[] {
  const ids: number[] = [];
  walk(ring, (id) => ids.push(id));
  return ids;
}

/** The number of ids in a ring (no decoding: one byte per id ends below 0x80). */
export function ringCount(ring: Uint8Array): number {
  let count = 0;
  for (let i = 0; i < ring.length; i++) if (ring[i]! < 0x80) count++;
  return count;
}

/** A ring of these ids, oldest first. */
export function toRing(ids: readonly number[]): Buffer {
  const out = Buffer.allocUnsafe(ids.length * 8);
  let at = 0;
  let prev = 0;
  for (const id of ids) {
    at = putVarint(out, at, zigzag(id - prev));
    prev = id;
  }
  return out.subarray(0, at);
}

/**
 * The ring once `id` (a new version's row) is appended and its oldest dropped while more than
 * `keep` remain (at most VERSION_RING_DROPS_PER_WRITE), and the dropped ids (the rows to delete). A null ring
 * starts one. One pass over the ring's bytes, no array of its ids: every durable PUT runs it.
 */
export function ringPush(ring: Uint8Array | null, id: number, keep: number): { ring: Buffer; dropped: number[] } {
  if (ring === null || ring.length === 0) return { ring: toRing([id]), dropped: [] };
  // The first VERSION_RING_DROPS_PER_WRITE + 1 ids with where each ends, the count, the last id.
  const heads: number[] = [];
  const ends: number[] = [];
  let count = 0;
  let last = 0;
  walk(ring, (at, end) => {
    last = at;
    if (count++ <= VERSION_RING_DROPS_PER_WRITE) {
      heads.push(at);
      ends.push(end);
    }
  });
  const drop = Math.min(Math.max(0, count + 1 - keep), VERSION_RING_DROPS_PER_WRITE, count);
  const dropped = heads.slice(0, drop);
  if (drop === count) return { ring: toRing([id]), dropped };
  // The new oldest id written whole, the deltas after it as they are, the new one's delta.
  const rest = ring.subarray(ends[drop]!);
  const out = Buffer.allocUnsafe(rest.length + 16);
  let at = putVarint(out, 0, zigzag(heads[drop]!));
  out.set(rest, at);
  at = putVarint(out, at + rest.length, zigzag(id - last));
  return { ring: out.subarray(0, at), dropped };
}

const zigzag = (d: number): number => (d >= 0 ? d * 2 : -d * 2 - 1);

/** Writes `z` (not negative) as a varint at `at`; where it ends. */
function putVarint(out: Buffer, at: number, z: number): number {
  while (z >= 0x80) {
    out[at++] = (z % 128) | 0x80;
    z = Math.floor(z / 128);
  }
  out[at++] = z;
  return at;
}

/**
 * The id of `version` among a ring's ids (`ringIds`) of a key whose current version is `current`,
 * or undefined when the ring does not reach it. A ring with gaps (a file from before rings) may
 * place it wrong: the caller checks the row's version and, if it differs, looks through the ids.
 */
export function ringIdOf(ids: readonly number[], current: number, version: number): number | undefined {
  const i = ids.length - 1 - (current - version);
  return i >= 0 && i < ids.length ? ids[i] : undefined;
}

/**
 * The row of `version` among a key's ring, read by id with `rowAt` (undefined: no such row, or
 * another key's): the current version's row (`currentId`) without decoding the ring, another by
 * its place. Consecutive versions, as every write makes them, place each kept one, so a miss is
 * an answer; a ring with gaps (a file from before rings, its oldest row then older than its
 * place says) has each kept row looked at.
 */
export function findVersion<T extends { version: number }>(
  ring: Uint8Array,
  current: number,
  currentId: number,
  version: number,
  rowAt: (id: number) => T | undefined,
): T | undefined {
  // Decoded once: for its place, then (a gapped ring) for the row-by-row search.
  const placed = version === current ? null : ringIds(ring);
  const id = placed === null ? currentId : ringIdOf(placed, current, version);
  const hit = id === undefined ? undefined : rowAt(id);
  if (hit?.version === version) return hit;
  const ids = placed ?? ringIds(ring);
  const oldest = ids.length > 0 ? rowAt(ids[0]!) : undefined;
  if (oldest === undefined || oldest.version === current - ids.length + 1) return undefined;
  for (const other of ids) {
    const row = rowAt(other);
    if (row?.version === version) return row;
  }
  return undefined;
}
