/**
 * Raw JSON helpers: event `data` is stored verbatim (number text, big integers, key order all
 * kept), compacted like Go's encoder does for json.RawMessage. Inputs are already known to be
 * valid JSON (checked by JSON.parse first).
 */

const isWs = (c: number): boolean => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;

function skipWs(s: string, i: number): number {
  while (i < s.length && isWs(s.charCodeAt(i))) i++;
  return i;
}

/**
 * Index just past the string literal starting at i (s[i] === '"'). Jumps from quote to quote
 * (indexOf is native); a quote preceded by an odd number of backslashes is escaped.
 */
function endOfString(s: string, i: number): number {
  for (;;) {
    const q = s.indexOf('"', i + 1);
    if (q < 0) return s.length;
    let b = q - 1;
    while (s.charCodeAt(b) === 0x5c) b--;
    if ((q - 1 - b) % 2 === 0) return q + 1;
    i = q;
  }
}

/** Index just past the JSON value starting at i. */
function endOfValue(s: string, i: number): number {
  const c = s.charCodeAt(i);
  if (c === 0x22) return endOfString(s, i);
  if (c === 0x7b || c === 0x5b) {
    let depth = 0;
    for (; i < s.length; i++) {
      const d = s.charCodeAt(i);
      if (d === 0x22) i = endOfString(s, i) - 1;
      else if (d === 0x7b || d === 0x5b) depth++;
      else if (d === 0x7d || d === 0x5d) {
        depth--;
        if (depth === 0) return i + 1;
      }
    }
    return s.length;
  }
  while (i < s.length) {
    const d = s.charCodeAt(i);
    if (d === 0x2c || d === 0x7d || d === 0x5d || isWs(d)) break;
    i++;
  }
  return i;
}

/**
 * Parses the first JSON value of `text` and ignores what follows it, as Go's json.Decoder does
 * ("only the first JSON value is read", docs/api.md). Throws SyntaxError when that value is invalid.
 */
export function parseFirstJson(text: string): unknown {
  // The usual body is one value: JSON.parse alone (native) says so; only a body it refuses is
  // cut after its first value and parsed again.
  try {
    return JSON.parse(text);
  } catch {
    const start = skipWs(text, 0);
    if (start >= text.length) throw new SyntaxError('empty body');
    return JSON.parse(text.slice(start, endOfValue(text, start)));
  }
}

/**
 * The raw text of top-level member `name` of the JSON object `text` (the last one if repeated,
 * as JSON.parse does), or undefined when absent.
 */
export function rawMember(text: string, name: string): string | undefined {
  let i = skipWs(text, 0);
  if (text.charCodeAt(i) !== 0x7b) return undefined;
  i = skipWs(text, i + 1);
  let found: string | undefined;
  while (i < text.length && text.charCodeAt(i) === 0x22) {
    const keyEnd = endOfString(text, i);
    const key = JSON.parse(text.slice(i, keyEnd)) as string;
    i = skipWs(text, keyEnd);
    i = skipWs(text, i + 1); // ':'
    const valueEnd = endOfValue(text, i);
    if (key === name) found = text.slice(i, valueEnd);
    i = skipWs(text, valueEnd);
    if (text.charCodeAt(i) === 0x2c) i = skipWs(text, i + 1);
    else break;
  }
  return found;
}

/** Removes insignificant whitespace (outside strings); strings are copied as slices. */
export function compactJson(raw: string): string {
  let out = '';
  let from = 0; // start of the run not yet copied
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c === 0x22) i = endOfString(raw, i) - 1;
    else if (isWs(c)) {
      out += raw.slice(from, i);
      while (i + 1 < raw.length && isWs(raw.charCodeAt(i + 1))) i++;
      from = i + 1;
    }
  }
  return from === 0 ? raw : out + raw.slice(from);
}

/** The JSON text of object `obj` (`{…}`) with `members` (`"k":v,…` text) after its own: a reply that adds to a record's. */
export function withMembers(obj: string, members: string): string {
  return obj === '{}' ? `{${members}}` : `${obj.slice(0, -1)},${members}}`;
}
