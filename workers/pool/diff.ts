import type { DiffEntry } from '../../schemas/rpc/pool.js';

/**
 * JSON object diff (SPEC §2.2): walk the union of member names, sorted, at each level;
 * path = names joined by '.'. Arrays compare whole; `old`/`new` omitted when null.
 */
export function diffObjects(a: Record<string, unknown>, b: Record<string, unknown>, prefix = '', out: DiffEntry[] = []): DiffEntry[] {
  const names = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  for (const name of names) {
    const path = prefix === '' ? name : `${prefix}.${name}`;
    const inA = Object.prototype.hasOwnProperty.call(a, name);
    const inB = Object.prototype.hasOwnProperty.call(b, name);
    const va = a[name];
    const vb = b[name];
    if (!inA) out.push(withValues({ path, kind: 'added' }, undefined, vb));
    else if (!inB) out.push(withValues({ path, kind: 'removed' }, va, undefined));
    else if (isObject(va) && isObject(vb)) diffObjects(va, vb, path, out);
    else if (canonical(va) !== canonical(vb)) out.push(withValues({ path, kind: 'changed' }, va, vb));
  }
  return out;
}

/** Builds an entry in the wire member order path, old, new, kind; null values omitted. */
function withValues(e: Pick<DiffEntry, 'path' | 'kind'>, oldV: unknown, newV: unknown): DiffEntry {
  const r: Partial<DiffEntry> = { path: e.path };
  if (oldV !== undefined && oldV !== null) r.old = oldV;
  if (newV !== undefined && newV !== null) r.new = newV;
  r.kind = e.kind;
  return r as DiffEntry;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** JSON with object keys sorted at every level (Go's json.Marshal of a map does this). */
export function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (isObject(v)) {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

/** Parses a stored version as a JSON object, or returns the reason it is not one. */
export function parseObject(bytes: Uint8Array): { ok: true; value: Record<string, unknown> } | { ok: false; reason: string } {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
  } catch (e) {
    return { ok: false, reason: (e as Error).message };
  }
  if (!isObject(v)) return { ok: false, reason: `expected a JSON object, got ${Array.isArray(v) ? 'array' : v === null ? 'null' : typeof v}` };
  return { ok: true, value: v };
}
