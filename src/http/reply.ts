import fs from 'node:fs';
import { STATUS_CODES } from 'node:http';
import { toAppError } from '../errors.js';
import type { Logger } from '../log.js';
import { rateLimited } from '../shared/rate-limited.js';
import type { Ctx } from './context.js';
import { FILE_CHUNK_BYTES, WIRE_TEXTS_MAX } from '../shared/limits-features.js';

/** "200 OK", "404 Not Found", … precomputed for uWS writeStatus. */
const STATUS_LINE: Record<number, string> = {};
for (const [code, text] of Object.entries(STATUS_CODES)) STATUS_LINE[Number(code)] = `${code} ${text}`;

export const statusLine = (status: number): string => STATUS_LINE[status] ?? String(status);

/**
 * The status lines, header names and content types a reply writes, as bytes. uWS copies a string
 * argument into a UTF-8 buffer of its own at every call (a malloc, a length scan, a copy, a free)
 * and reads a Buffer in place: a cached GET wrote nine strings, ~0.3 µs each on the peers' VM.
 * Values that change per reply (an ETag, a version) stay strings. Bounded: past
 * WIRE_TEXTS_MAX distinct texts (content types are the clients'), the rest go as strings.
 */
const wireTexts = new Map<string, Buffer>();
export function wireText(text: string): Buffer | string {
  const known = wireTexts.get(text);
  if (known !== undefined) return known;
  if (wireTexts.size >= WIRE_TEXTS_MAX) return text;
  const bytes = Buffer.from(text, 'utf8');
  wireTexts.set(text, bytes);
  return bytes;
}
const STATUS_BYTES: Record<number, Buffer> = {};
for (const code of Object.keys(STATUS_LINE)) STATUS_BYTES[Number(code)] = Buffer.from(STATUS_LINE[Number(code)]!, 'latin1');
const CONTENT_TYPE = wireText('Content-Type');

export type HeaderList = ReadonlyArray<readonly [string, string]>;
const NO_HEADERS: HeaderList = [];
const JSON_TYPE = 'application/json';

/**
 * The reply being written, for `writeReply`: set just before `res.cork`, which calls it at once.
 * A closure per reply capturing these was ~140 bytes of garbage per request (`npm run
 * bench -- alloc`). `rEtag` non-null: a stored value's ETag, X-Koor-Version and, when not null,
 * X-Koor-Revision, written without a header list (sendValue, sendWrittenJson: a cached GET's three
 * pairs were four arrays per request).
 */
let rCtx: Ctx | null = null;
let rStatus = 200;
let rBody: string | Uint8Array = '';
let rType: string | null = null;
let rHeaders: HeaderList = NO_HEADERS;
let rClose = false;
let rEtag: string | null = null;
let rVersion = '';
let rRevision: string | null = null;
const ETAG = wireText('ETag');
const VERSION = wireText('X-Koor-Version');
const REVISION = wireText('X-Koor-Revision');

function writeReply(): void {
  const ctx = rCtx!;
  const res = ctx.res;
  res.writeStatus(STATUS_BYTES[rStatus] ?? String(rStatus));
  if (rType !== null) res.writeHeader(CONTENT_TYPE, wireText(rType));
  if (rEtag !== null) {
    res.writeHeader(ETAG, rEtag);
    if (rStatus !== 304) {
      res.writeHeader(VERSION, rVersion);
      if (rRevision !== null) res.writeHeader(REVISION, rRevision);
    }
  }
  for (let i = 0; i < rHeaders.length; i++) res.writeHeader(wireText(rHeaders[i]![0]), rHeaders[i]![1]);
  // 304 carries no Content-Length; HEAD gets the GET headers without a body. Never pass a
  // length to endWithoutBody: uWS then expects more bytes and aborts the process.
  if (rStatus === 304 || ctx.method === 'HEAD') res.endWithoutBody();
  else res.end(rBody, rClose);
}

/** Writes one reply, corked, through the r* slots (a stored value's headers set beforehand), and lets go of what they held. */
function write(ctx: Ctx, status: number, body: string | Uint8Array, contentType: string | null, headers: HeaderList, closeConnection: boolean): void {
  ctx.done = true;
  rCtx = ctx;
  rStatus = status;
  rBody = body;
  rType = contentType;
  rHeaders = headers;
  rClose = closeConnection;
  try {
    ctx.res.cork(writeReply);
  } finally {
    rCtx = null;
    rBody = '';
    rHeaders = NO_HEADERS;
    rEtag = null;
    rRevision = null;
  }
  ctx.onSent?.(ctx, status);
}

/**
 * Writes one complete response, corked, unless the client is gone or a response was already
 * written. Every response in the server goes through here, `sendValue` or `sendWrittenJson` (a file
 * through `sendFile`).
 */
export function send(ctx: Ctx, status: number, body: string | Uint8Array, contentType: string | null, headers: HeaderList = NO_HEADERS, closeConnection = false): void {
  if (ctx.aborted || ctx.done) return;
  write(ctx, status, body, contentType, headers, closeConnection);
}

/**
 * A stored value (a state key, a spec) with its ETag, X-Koor-Version and X-Koor-Revision (when
 * given), as header text; `If-None-Match` byte-equal to the ETag → 304 with the ETag alone.
 */
export function sendValue(ctx: Ctx, body: Uint8Array, contentType: string, etag: string, versionText: string, revisionText: string | null): void {
  if (ctx.aborted || ctx.done) return;
  const status = ctx.headers.ifNoneMatch === etag ? 304 : 200;
  rEtag = etag;
  rVersion = versionText;
  rRevision = revisionText;
  write(ctx, status, body, status === 304 ? null : contentType, NO_HEADERS, false);
}

/** JSON reply; bodies end in '\n'. */
export function sendJson(ctx: Ctx, status: number, value: unknown, headers?: HeaderList): void {
  sendJsonText(ctx, status, JSON.stringify(value), headers);
}

/** A JSON reply already serialised (built by SQLite, or with stored JSON spliced in verbatim). */
export function sendJsonText(ctx: Ctx, status: number, json: string, headers?: HeaderList): void {
  send(ctx, status, `${json}\n`, JSON_TYPE, headers);
}

/**
 * A write's JSON reply (text), carrying the new value's ETag, X-Koor-Version and X-Koor-Revision
 * (when given), written without a header list (three pairs were four arrays per write).
 */
export function sendWrittenJson(ctx: Ctx, json: string, etag: string, version: number, revision?: number): void {
  if (ctx.aborted || ctx.done) return;
  rEtag = etag;
  rVersion = String(version);
  rRevision = revision === undefined ? null : String(revision);
  write(ctx, 200, `${json}\n`, JSON_TYPE, NO_HEADERS, false);
}

/** A write's JSON reply, carrying the new value's ETag, version and revision. */
export function sendWritten(ctx: Ctx, r: { hash: string; version: number; revision?: number }): void {
  sendWrittenJson(ctx, JSON.stringify(r), `"${r.hash}"`, r.version, r.revision);
}

/** One warning per 10 s per logger for 503s (the database down, a restart, a full queue), with how many it stood for. */
const unavailableLogs = new WeakMap<Logger, ReturnType<typeof rateLimited>>();

/**
 * The one error writer: `{"error": msg, "code": status}`; 5xx logged at error (503, which an
 * outage answers to every request, as one rate-limited warning), 4xx at debug.
 */
export function sendError(ctx: Ctx, err: unknown, log: Logger): void {
  const e = toAppError(err);
  const status = e.httpStatus;
  if (status === 503) {
    let warn = unavailableLogs.get(log);
    if (!warn) unavailableLogs.set(log, (warn = rateLimited(log)));
    warn({ method: ctx.method, url: ctx.url, status, error: e.message, cause: (e.cause as Error | undefined)?.message }, 'service unavailable (503)');
  } else if (status >= 500) log.error({ err: e.cause ?? e, method: ctx.method, url: ctx.url, status }, e.message);
  else log.debug({ method: ctx.method, url: ctx.url, status, error: e.message }, 'request failed');
  const headers: Array<[string, string]> = [];
  if (status === 401) headers.push(['WWW-Authenticate', 'Bearer']);
  if (status === 503) headers.push(['Retry-After', '1']);
  // A 429 says when to retry if it can (a rate limit, a budget's period end; not a total cap).
  if (status === 429 && e.detail?.retry_after !== undefined) headers.push(['Retry-After', String(e.detail.retry_after)]);
  if (e.status === 'FAILED_PRECONDITION' && e.detail) {
    if (e.detail.hash !== undefined) headers.push(['ETag', `"${e.detail.hash}"`]);
    if (e.detail.version !== undefined) headers.push(['X-Koor-Version', String(e.detail.version)]);
  }
  if (e.status === 'METHOD_NOT_ALLOWED' && e.detail?.allow !== undefined) headers.push(['Allow', String(e.detail.allow)]);
  // 413 is sent before the body was read: close so the rest of the upload is not buffered.
  const body = e.body === undefined ? { error: e.message, code: status } : { error: e.message, code: status, ...e.body };
  send(ctx, status, `${JSON.stringify(body)}\n`, JSON_TYPE, headers, status === 413);
}

/**
 * Streams `file` as the reply body with Content-Length, reading one chunk at a time and waiting
 * whenever the socket is full (uWS tryEnd / onWritable), so a large file never sits in memory
 * and a slow client holds back only its own download. Resolves when the body was handed to the
 * socket or the client went away (`ctx.aborted`); the caller owns the file.
 */
export async function sendFile(ctx: Ctx, status: number, file: string, contentType: string, headers: HeaderList = NO_HEADERS): Promise<void> {
  if (ctx.aborted || ctx.done) return;
  const fh = await fs.promises.open(file, 'r');
  try {
    const size = (await fh.stat()).size;
    if (ctx.aborted) return;
    ctx.done = true;
    const res = ctx.res;
    if (ctx.method === 'HEAD' || size === 0) {
      res.cork(() => {
        res.writeStatus(statusLine(status));
        res.writeHeader('Content-Type', contentType);
        for (const [k, v] of headers) res.writeHeader(k, v);
        if (ctx.method === 'HEAD') res.endWithoutBody();
        else res.end();
      });
      ctx.onSent?.(ctx, status);
      return;
    }
    let wake: ((offset: number | null) => void) | null = null;
    const prevAbort = ctx.onAbort;
    ctx.onAbort = () => {
      prevAbort?.();
      wake?.(null);
    };
    const buf = Buffer.allocUnsafe(Math.min(FILE_CHUNK_BYTES, size));
    let pos = 0;
    let first = true;
    while (pos < size) {
      const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, size - pos), pos);
      if (ctx.aborted) return;
      if (bytesRead === 0) throw new Error(`${file} shrank while being sent`);
      let chunk = buf.subarray(0, bytesRead);
      for (;;) {
        let ok = false;
        let start = 0;
        res.cork(() => {
          if (first) {
            res.writeStatus(statusLine(status));
            res.writeHeader('Content-Type', contentType);
            for (const [k, v] of headers) res.writeHeader(k, v);
            first = false;
          }
          start = res.getWriteOffset();
          [ok] = res.tryEnd(chunk, size);
        });
        if (ok) break;
        // Full: what went out is counted by the write offset; the rest is written when the
        // socket drains (the chunk buffer is reused only after all of it was taken).
        const offset = await new Promise<number | null>((resolve) => {
          wake = resolve;
          res.onWritable((off) => {
            resolve(off);
            return true;
          });
        });
        wake = null;
        if (offset === null || ctx.aborted) return;
        chunk = chunk.subarray(offset - start);
        if (chunk.length === 0) break;
      }
      pos += bytesRead;
    }
    ctx.onSent?.(ctx, status);
  } finally {
    await fh.close();
  }
}
