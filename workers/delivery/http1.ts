import net from 'node:net';
import { DELIVERY_IDLE_MS, DELIVERY_MAX_HEAD_BYTES } from '../../src/shared/limits-features.js';

/**
 * A minimal HTTP/1.1 client for webhook POSTs to `http://` receivers: one request at a time per
 * connection, keep-alive connections per origin, the request written as one buffer and the reply
 * read just far enough to know its status and where it ends. node:http cost ~125 µs of CPU per
 * POST on the reference box (request objects, header validation, the agent's bookkeeping), this
 * ~45 µs, most of it the kernel's loopback work; with 5 webhooks taking every publish that is the
 * difference between deliveries competing with publishing and not (bench operations).
 *
 * What it reads of a reply (RFC 9112): the status line (1xx interim replies skipped), then the
 * body framed by `Transfer-Encoding: chunked`, `Content-Length`, or the connection's close; no
 * body for 204 and 304. Up to `maxReplyBytes` of body are read and discarded; past that the
 * connection is dropped and the status decides. A connection is reused only when its reply was
 * complete, framed, and neither side asked to close it.
 */

export type Http1Result = { ok: true; status: number } | { ok: false; error: string };

export interface Http1Limits {
  timeoutMs: number;
  maxReplyBytes: number;
  /** Idle keep-alive connections kept per origin. */
  maxIdle: number;
}

const idle = new Map<string, net.Socket[]>();

function takeIdle(origin: string): net.Socket | null {
  const list = idle.get(origin);
  while (list && list.length > 0) {
    const s = list.pop()!;
    s.setTimeout(0);
    s.removeAllListeners('close');
    s.removeAllListeners('error');
    s.removeAllListeners('timeout');
    if (!s.destroyed && s.readyState === 'open') return s;
    s.destroy();
  }
  return null;
}

function putIdle(origin: string, s: net.Socket, max: number): void {
  let list = idle.get(origin);
  if (!list) idle.set(origin, (list = []));
  if (list.length >= max) {
    s.destroy();
    return;
  }
  const drop = () => {
    s.destroy();
    const i = list!.indexOf(s);
    if (i >= 0) list!.splice(i, 1);
  };
  s.once('close', drop);
  s.once('error', drop);
  s.once('timeout', drop);
  s.setTimeout(DELIVERY_IDLE_MS);
  list.push(s);
}

/** Closes every idle connection (thread shutdown, tests). */
export function closeIdle(): void {
  for (const list of idle.values()) for (const s of list) s.destroy();
  idle.clear();
}

/** The request head's fixed part for `target`; headers are `name: value` pairs. */
export function requestHead(target: URL, headers: ReadonlyArray<readonly [string, string]>, bodyBytes: number): string {
  let head = `POST ${target.pathname}${target.search} HTTP/1.1\r\nHost: ${target.host}\r\n`;
  for (const [k, v] of headers) head += `${k}: ${v}\r\n`;
  return `${head}Content-Length: ${bodyBytes}\r\n\r\n`;
}

/**
 * POSTs `payload` (head + body, see requestHead) to `target` (http:). A reused connection the
 * receiver had closed meanwhile (nothing read back) is retried once on a new one.
 */
export async function post(limits: Http1Limits, target: URL, payload: Buffer, signal?: AbortSignal): Promise<Http1Result> {
  const origin = `${target.hostname}:${target.port || '80'}`;
  const idleSock = takeIdle(origin);
  if (idleSock) {
    const r = await exchange(limits, origin, idleSock, true, payload, signal);
    if (r !== STALE) return r;
  }
  const host = target.hostname.startsWith('[') ? target.hostname.slice(1, -1) : target.hostname;
  const r = await exchange(limits, origin, net.connect({ host, port: Number(target.port || 80), noDelay: true }), false, payload, signal);
  return r === STALE ? { ok: false, error: 'request failed: connection closed before a reply' } : r;
}

const STALE = Symbol('stale');
const CRLF = Buffer.from('\r\n');
const HEAD_END = Buffer.from('\r\n\r\n');

type Framing = { kind: 'none' } | { kind: 'length'; left: number } | { kind: 'chunked' } | { kind: 'close' };

/** One request/reply on `sock`; STALE when a `reused` connection closed before any reply byte. */
function exchange(limits: Http1Limits, origin: string, sock: net.Socket, reused: boolean, payload: Buffer, signal?: AbortSignal): Promise<Http1Result | typeof STALE> {
  return new Promise((resolve) => {
    let settled = false;
    let received = 0;
    let buf: Buffer = Buffer.alloc(0);
    let status = 0;
    let keepAlive = true;
    let framing: Framing | null = null;
    let bodyRead = 0;
    /** chunked: bytes of the current chunk still to read (+2 for its CRLF); -1 = at a size line; -2 = in trailers. */
    let chunkLeft = -1;

    const finish = (r: Http1Result | typeof STALE, reuse: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      sock.removeListener('data', onData);
      sock.removeListener('error', onError);
      sock.removeListener('close', onClose);
      if (reuse && keepAlive && buf.length === 0) putIdle(origin, sock, limits.maxIdle);
      else sock.destroy();
      resolve(r);
    };
    const outcome = (): Http1Result => (status >= 400 ? { ok: false, error: `webhook returned status ${status}` } : { ok: true, status });
    const fail = (error: string) => finish({ ok: false, error }, false);

    const onAbort = () => fail('delivery aborted');
    const timer = setTimeout(() => fail(`no reply within ${limits.timeoutMs / 1000} s`), limits.timeoutMs);
    const onError = (e: Error & { code?: string }) => {
      if (received === 0 && reused && (e.code === 'ECONNRESET' || e.code === 'EPIPE')) return finish(STALE, false);
      fail(e.code ? `request failed: ${e.code}` : `request failed: ${e.message}`);
    };
    const onClose = () => {
      if (framing?.kind === 'close' || (framing !== null && bodyRead > limits.maxReplyBytes)) return finish(outcome(), false);
      if (received === 0 && reused) return finish(STALE, false);
      fail(received === 0 ? 'request failed: connection closed before a reply' : 'request failed: reply cut short');
    };

    /** Consumes body bytes from `buf`; true when the reply is complete. */
    const body = (): boolean => {
      const f = framing!;
      if (f.kind === 'none') return true;
      if (f.kind === 'close') {
        bodyRead += buf.length;
        buf = Buffer.alloc(0);
        return false;
      }
      if (f.kind === 'length') {
        const n = Math.min(f.left, buf.length);
        f.left -= n;
        bodyRead += n;
        buf = buf.subarray(n);
        return f.left === 0;
      }
      for (;;) {
        if (chunkLeft > 0) {
          const n = Math.min(chunkLeft, buf.length);
          chunkLeft -= n;
          bodyRead += n;
          buf = buf.subarray(n);
          if (chunkLeft > 0) return false;
          chunkLeft = -1;
          continue;
        }
        const eol = buf.indexOf(CRLF);
        if (eol < 0) {
          if (buf.length > DELIVERY_MAX_HEAD_BYTES) throw new Error('bad chunked reply');
          return false;
        }
        const line = buf.subarray(0, eol).toString('latin1');
        buf = buf.subarray(eol + 2);
        if (chunkLeft === -2) {
          if (line === '') return true; // end of trailers
          continue;
        }
        const size = parseInt(line, 16);
        if (!/^[0-9a-fA-F]+/.test(line) || !Number.isSafeInteger(size)) throw new Error('bad chunked reply');
        chunkLeft = size === 0 ? -2 : size + 2; // the chunk's data, then its CRLF
      }
    };

    const onData = (chunk: Buffer) => {
      received += chunk.length;
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      try {
        while (framing === null) {
          const end = buf.indexOf(HEAD_END);
          if (end < 0) {
            if (buf.length > DELIVERY_MAX_HEAD_BYTES) return fail('request failed: reply header too large');
            return;
          }
          const head = buf.subarray(0, end).toString('latin1');
          buf = buf.subarray(end + 4);
          const m = /^HTTP\/1\.([01]) (\d{3})/.exec(head);
          if (!m) return fail('request failed: not an HTTP/1.x reply');
          status = Number(m[2]);
          if (status >= 100 && status < 200) continue; // interim (100 Continue, 103): the real reply follows
          keepAlive = m[1] === '1';
          let length = -1;
          let chunked = false;
          for (const line of head.split('\r\n').slice(1)) {
            const colon = line.indexOf(':');
            if (colon < 0) continue;
            const name = line.slice(0, colon).trim().toLowerCase();
            const value = line.slice(colon + 1).trim().toLowerCase();
            if (name === 'content-length') length = /^\d+$/.test(value) ? Number(value) : NaN;
            else if (name === 'transfer-encoding') chunked = value.split(',').pop()!.trim() === 'chunked';
            else if (name === 'connection') keepAlive = value.includes('keep-alive') ? true : value.includes('close') ? false : keepAlive;
          }
          if (Number.isNaN(length)) return fail('request failed: bad Content-Length in reply');
          if (status === 204 || status === 304) framing = { kind: 'none' };
          else if (chunked) framing = { kind: 'chunked' };
          else if (length >= 0) framing = { kind: 'length', left: length };
          else {
            framing = { kind: 'close' };
            keepAlive = false;
          }
        }
        if (body()) return finish(outcome(), true);
        // Enough of a long reply: the status decides, the connection goes.
        if (bodyRead > limits.maxReplyBytes) finish(outcome(), false);
      } catch {
        fail('request failed: malformed reply');
      }
    };

    if (signal?.aborted) return fail('delivery aborted');
    signal?.addEventListener('abort', onAbort, { once: true });
    sock.on('data', onData);
    sock.on('error', onError);
    sock.on('close', onClose);
    sock.write(payload);
  });
}
