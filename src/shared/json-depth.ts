import { JSON_MAX_DEPTH } from './limits.js';

/**
 * Whether JSON text nests deeper than `max` arrays/objects. A byte scan (brackets outside strings),
 * no parse: invalid JSON is for the parser to refuse.
 */
export function jsonTooDeep(bytes: Uint8Array, max = JSON_MAX_DEPTH): boolean {
  return !fewBrackets(bytes, max) && jsonTooDeepByScan(bytes, max);
}

/** jsonTooDeep's answer by the byte scan alone (brackets outside strings, counted as they nest). */
export function jsonTooDeepByScan(bytes: Uint8Array, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i]!;
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped byte
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) return true;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return false;
}

/**
 * At most `max` opening brackets in all, so nothing nests deeper: the usual body is answered by a
 * few native scans (Buffer's indexOf), ~70 ns for 1 KB against ~1.2 µs for the byte loop in JS.
 */
function fewBrackets(bytes: Uint8Array, max: number): boolean {
  const b = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let n = 0;
  for (const c of BRACKETS) for (let i = b.indexOf(c); i !== -1; i = b.indexOf(c, i + 1)) if (++n > max) return false;
  return true;
}
const BRACKETS = [0x7b, 0x5b] as const;
