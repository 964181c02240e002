import { fail } from '../../errors.js';
import { INSTANCE_CAPABILITIES_MAX, INSTANCE_CAPABILITY_MAX_BYTES, INSTANCE_FIELD_MAX_BYTES } from '../../shared/limits.js';

/**
 * An agent's registration or change within INSTANCE_FIELD_MAX_BYTES and the capability limits:
 * refused whole, naming the field, before anything is written (the text reaches other agents'
 * models: src/shared/limits.ts).
 */
export function checkFields(f: { name?: string; workspace?: string; intent?: string; stack?: string; capabilities?: readonly string[] }): void {
  for (const field of ['name', 'workspace', 'intent', 'stack'] as const) {
    const text = f[field];
    if (text === undefined) continue;
    const bytes = Buffer.byteLength(text);
    if (bytes > INSTANCE_FIELD_MAX_BYTES[field]) throw fail('NAME_TOO_LONG', field, bytes, INSTANCE_FIELD_MAX_BYTES[field]);
  }
  const caps = f.capabilities ?? [];
  if (caps.length > INSTANCE_CAPABILITIES_MAX) throw fail('TOO_MANY', 'capabilities', caps.length, INSTANCE_CAPABILITIES_MAX);
  for (const c of caps) {
    const bytes = Buffer.byteLength(c);
    if (bytes > INSTANCE_CAPABILITY_MAX_BYTES) throw fail('NAME_TOO_LONG', 'capability', bytes, INSTANCE_CAPABILITY_MAX_BYTES);
  }
}

/** `text` cut at a character boundary to at most `maxBytes` of UTF-8 (a name made from a folder's). */
export function clipUtf8(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text) <= maxBytes) return text;
  let bytes = 0;
  let end = 0;
  for (const ch of text) {
    const b = Buffer.byteLength(ch);
    if (bytes + b > maxBytes) break;
    bytes += b;
    end += ch.length;
  }
  return text.slice(0, end);
}
