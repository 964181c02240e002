import { jsonTooDeep } from '../../src/shared/json-depth.js';
import { JSON_MAX_DEPTH } from '../../src/shared/limits.js';
import { Num, parseLossless, stringifyLossless, type LosslessValue } from './lossless-json.js';

type Obj = { [k: string]: LosslessValue };

/** One diff entry with its values still lossless; serialised by diffJson. */
export interface RawDiffEntry {
  path: string;
  old?: LosslessValue;
  new?: LosslessValue;
  kind: 'added' | 'removed' | 'changed';
}

/**
 * JSON object diff: walk the union of member names, sorted, at each level;
 * path = names joined by '.'. Arrays compare whole; `old`/`new` omitted when null. Numbers are
 * compared and reported exactly (no rounding beyond 2^53).
 */
export function diffObjects(a: Obj, b: Obj, prefix = '', out: RawDiffEntry[] = []): RawDiffEntry[] {
  const names = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  for (const name of names) {
    const path = prefix === '' ? name : `${prefix}.${name}`;
    const inA = Object.prototype.hasOwnProperty.call(a, name);
    const inB = Object.prototype.hasOwnProperty.call(b, name);
    const va = a[name];
    const vb = b[name];
    if (!inA) out.push(entry(path, 'added', undefined, vb));
    else if (!inB) out.push(entry(path, 'removed', va, undefined));
    else if (isObject(va) && isObject(vb)) diffObjects(va, vb, path, out);
    else if (canonical(va) !== canonical(vb)) out.push(entry(path, 'changed', va, vb));
  }
  return out;
}

/** `old`/`new` are omitted when null or absent. */
function entry(path: string, kind: RawDiffEntry['kind'], oldV: LosslessValue | undefined, newV: LosslessValue | undefined): RawDiffEntry {
  const r: RawDiffEntry = { path, kind };
  if (oldV !== undefined && oldV !== null) r.old = oldV;
  if (newV !== undefined && newV !== null) r.new = newV;
  return r;
}

function isObject(v: LosslessValue | undefined): v is Obj {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Num);
}

/** JSON with object keys sorted at every level and numbers by value (Go compares this way). */
export function canonical(v: LosslessValue | undefined): string {
  if (v instanceof Num) return v.key;
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (isObject(v)) {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

/** The `diffs` array as JSON text (numbers verbatim). */
export function diffJson(entries: readonly RawDiffEntry[]): string {
  return `[${entries
    .map((e) => {
      let s = `{"path":${JSON.stringify(e.path)}`;
      if (e.old !== undefined) s += `,"old":${stringifyLossless(e.old)}`;
      if (e.new !== undefined) s += `,"new":${stringifyLossless(e.new)}`;
      return `${s},"kind":"${e.kind}"}`;
    })
    .join(',')}]`;
}

/** Parses a stored version as a JSON object, or returns the reason it is not one. */
export function parseObject(bytes: Uint8Array): { ok: true; value: Obj } | { ok: false; reason: string } {
  // Stored before the limit existed, or by another route: the recursive walk must not run out of stack.
  if (jsonTooDeep(bytes)) return { ok: false, reason: `nested deeper than ${JSON_MAX_DEPTH} levels` };
  let v: LosslessValue;
  try {
    v = parseLossless(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
  } catch (e) {
    return { ok: false, reason: (e as Error).message };
  }
  if (!isObject(v)) return { ok: false, reason: `expected a JSON object, got ${Array.isArray(v) ? 'array' : v === null ? 'null' : v instanceof Num ? 'number' : typeof v}` };
  return { ok: true, value: v };
}
