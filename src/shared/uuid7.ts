import { randomFillSync } from 'node:crypto';

/** Random bytes drawn ahead, 10 an id (one fill serves POOL_IDS ids, as randomUUID's cache does). */
const POOL_IDS = 128;
const pool = Buffer.alloc(10 * POOL_IDS);
let next = POOL_IDS;
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/**
 * A UUID version 7 (RFC 9562): the first 48 bits the time in ms, the remaining 74 bits after the
 * version and variant random. For a row whose key is an id minted at insert, where a version 4
 * UUID lands each insert on a random page of the key's index: a lease's id is the key of the
 * lease table and of its resources' index, and with random ids every lease taken in a group
 * commit dirtied a leaf page of each of its own (a 4 KB write-ahead-log frame apiece once the
 * indexes outgrow the cache of recent pages); ids in time order append to the same few pages.
 * `ms` is the time the id carries (now by default).
 */
export function uuidv7(ms = Date.now()): string {
  if (next === POOL_IDS) {
    randomFillSync(pool);
    next = 0;
  }
  const r = next++ * 10;
  const t = Math.max(0, Math.floor(ms));
  const hi = Math.floor(t / 2 ** 16);
  const lo = t % 2 ** 16;
  const b = pool;
  return (
    HEX[(hi >>> 24) & 0xff]! +
    HEX[(hi >>> 16) & 0xff]! +
    HEX[(hi >>> 8) & 0xff]! +
    HEX[hi & 0xff]! +
    '-' +
    HEX[lo >>> 8]! +
    HEX[lo & 0xff]! +
    '-' +
    HEX[0x70 | (b[r]! & 0x0f)]! +
    HEX[b[r + 1]!]! +
    '-' +
    HEX[0x80 | (b[r + 2]! & 0x3f)]! +
    HEX[b[r + 3]!]! +
    '-' +
    HEX[b[r + 4]!]! +
    HEX[b[r + 5]!]! +
    HEX[b[r + 6]!]! +
    HEX[b[r + 7]!]! +
    HEX[b[r + 8]!]! +
    HEX[b[r + 9]!]!
  );
}
