import fs from 'node:fs';
import { fail } from '../errors.js';
import type { Ctx } from './context.js';
import { compactJson, rawMember } from '../raw-json.js';
import type { Static, TObject } from '../../schemas/typebox.js';

/**
 * The one bounded body reader. Rejects with 413 as soon as the declared Content-Length or the
 * bytes received pass `capBytes`; nothing past the cap is buffered. Must be called in the
 * synchronous part of the handler.
 */
export function readBody(ctx: Ctx, capBytes: number): Promise<Buffer> {
  const declared = ctx.headers.contentLength === '' ? -1 : Number(ctx.headers.contentLength);
  if (declared > capBytes) {
    // Do not even start reading; the connection is closed after the 413.
    ctx.res.onData(() => {});
    return Promise.reject(fail('BODY_TOO_LARGE'));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    let over = false;
    ctx.res.onData((ab, isLast) => {
      if (over || ctx.aborted) return;
      total += ab.byteLength;
      if (total > capBytes) {
        over = true;
        chunks.length = 0;
        reject(fail('BODY_TOO_LARGE'));
        return;
      }
      // uWS neuters the ArrayBuffer after this callback: copy it, into a buffer of its own (not a
      // slice of the pool, which a structured clone would copy whole) left uninitialised (ab.slice
      // zero-fills first).
      if (ab.byteLength > 0) {
        const copy = Buffer.allocUnsafeSlow(ab.byteLength);
        copy.set(new Uint8Array(ab));
        chunks.push(copy);
      }
      if (isLast) resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total));
    });
  });
}

/**
 * Streams the request body into `file` (created 0600, must not exist) without holding it in
 * memory, up to `capBytes` (413 past it, the file removed). Each chunk is written before the next
 * is taken, so a fast client is paced by the disk. Must be called in the synchronous part of
 * the handler. Resolves with the byte count once the body is complete and flushed to disk.
 */
export function readBodyToFile(ctx: Ctx, capBytes: number, file: string): Promise<number> {
  const declared = ctx.headers.contentLength === '' ? -1 : Number(ctx.headers.contentLength);
  if (declared > capBytes) {
    ctx.res.onData(() => {});
    return Promise.reject(fail('BODY_TOO_LARGE'));
  }
  let fd: number;
  try {
    fd = fs.openSync(file, 'wx', 0o600);
  } catch (e) {
    ctx.res.onData(() => {});
    return Promise.reject(e);
  }
  return new Promise((resolve, reject) => {
    let total = 0;
    let finished = false;
    const abandon = (e: unknown) => {
      if (finished) return;
      finished = true;
      fs.closeSync(fd);
      fs.rmSync(file, { force: true });
      reject(e);
    };
    const prevAbort = ctx.onAbort;
    ctx.onAbort = () => {
      prevAbort?.();
      abandon(new Error('client went away during upload'));
    };
    ctx.res.onData((ab, isLast) => {
      if (finished) return;
      total += ab.byteLength;
      if (total > capBytes) return abandon(fail('BODY_TOO_LARGE'));
      try {
        if (ab.byteLength > 0) fs.writeSync(fd, new Uint8Array(ab));
        if (isLast) {
          fs.fsyncSync(fd);
          fs.closeSync(fd);
          finished = true;
          resolve(total);
        }
      } catch (e) {
        abandon(e);
      }
    });
  });
}

/**
 * A create request's values for `rec`'s input fields (schemas/db/record.ts), from a body its
 * schema validated: each as sent, raw JSON as its compact text; absent or null, `defaults`' value,
 * else the column's default. A field with neither is left out (its route requires it).
 */
export function createInput<C extends TObject>(rec: { inputs: readonly string[]; fields: Readonly<Record<string, { form: string }>>; defaultOf(name: string): unknown; Create: C }, ctx: Ctx, defaults: Partial<Static<C>> = {}): Static<C> {
  const body = ctx.json as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const k of rec.inputs) {
    let v: unknown = body[k];
    if (v !== undefined && v !== null && rec.fields[k]!.form === 'raw') v = compactJson(rawMember(ctx.text, k)!);
    else if (v === undefined || (v === null && rec.fields[k]!.form !== 'raw')) v = (defaults as Record<string, unknown>)[k] ?? rec.defaultOf(k);
    else if (v === null) v = 'null';
    if (v !== undefined) out[k] = v;
  }
  return out as Static<C>;
}
