import { tooLarge } from '../errors.js';
import type { Ctx } from './context.js';

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
    return Promise.reject(tooLarge());
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
        reject(tooLarge());
        return;
      }
      // uWS neuters the ArrayBuffer after this callback: copy it.
      if (ab.byteLength > 0) chunks.push(Buffer.from(ab.slice(0)));
      if (isLast) resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total));
    });
  });
}
