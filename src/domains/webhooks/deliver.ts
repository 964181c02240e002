import http from 'node:http';
import https from 'node:https';
import { createHmac } from 'node:crypto';
import { WEBHOOK_MAX_REPLY_BYTES, WEBHOOK_TIMEOUT_MS } from '../../limits.js';

export type DeliveryResult = { ok: true; status: number } | { ok: false; error: string };

/** `X-Koor-Signature`: lowercase hex HMAC-SHA256 of the exact body bytes (SPEC §2.11). */
export function signature(secret: string, body: string): string {
  return createHmac('sha256', secret).update(body).digest('hex');
}

/**
 * Keep-alive connections per receiver. node:http, not fetch: on Node 20 a fetch POST cost ~300 µs
 * of the event loop's CPU (bench http, operations cost), several times a plain http.request.
 */
const AGENTS = {
  'http:': new http.Agent({ keepAlive: true, maxSockets: 4 }),
  'https:': new https.Agent({ keepAlive: true, maxSockets: 4 }),
} as const;

/**
 * One POST of `body` to `url` (SPEC §2.11): success = a status below 400 within
 * WEBHOOK_TIMEOUT_MS (the reply body, read and discarded up to WEBHOOK_MAX_REPLY_BYTES,
 * included). Redirects are not followed (a 3xx is a reply below 400). `signal` aborts it early.
 */
export function deliver(url: string, secret: string, body: string, signal?: AbortSignal): Promise<DeliveryResult> {
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    return Promise.resolve({ ok: false, error: `invalid URL: ${url}` });
  }
  if (target.protocol !== 'http:' && target.protocol !== 'https:') return Promise.resolve({ ok: false, error: `unsupported URL scheme: ${target.protocol}` });
  const payload = Buffer.from(body);
  const headers: Record<string, string | number> = { 'Content-Type': 'application/json', 'Content-Length': payload.length, 'X-Koor-Event': 'true' };
  if (secret !== '') headers['X-Koor-Signature'] = signature(secret, body);
  const timeout = AbortSignal.timeout(WEBHOOK_TIMEOUT_MS);
  const lib = target.protocol === 'https:' ? https : http;
  return new Promise((resolve) => {
    let settled = false;
    const finish = (r: DeliveryResult) => {
      if (settled) return;
      settled = true;
      resolve(r);
    };
    const req = lib.request(target, { method: 'POST', headers, agent: AGENTS[target.protocol as 'http:' | 'https:'], signal: signal ? AbortSignal.any([signal, timeout]) : timeout }, (res) => {
      const status = res.statusCode ?? 0;
      const outcome: DeliveryResult = status >= 400 ? { ok: false, error: `webhook returned status ${status}` } : { ok: true, status };
      let read = 0;
      res.on('data', (chunk: Buffer) => {
        read += chunk.length;
        if (read > WEBHOOK_MAX_REPLY_BYTES) res.destroy(); // enough: the status decides
      });
      res.on('end', () => finish(outcome));
      res.on('close', () => finish(read > WEBHOOK_MAX_REPLY_BYTES || res.complete ? outcome : { ok: false, error: reasonOf(new Error('reply cut short'), timeout) }));
      res.on('error', () => undefined); // 'close' follows and decides
    });
    req.on('error', (e) => finish({ ok: false, error: reasonOf(e, timeout) }));
    req.end(payload);
  });
}

function reasonOf(e: unknown, timeout: AbortSignal): string {
  if (timeout.aborted) return `no reply within ${WEBHOOK_TIMEOUT_MS / 1000} s`;
  const err = e as Error & { code?: string };
  if (err.name === 'AbortError') return 'delivery aborted';
  return err.code ? `request failed: ${err.code}` : `request failed: ${err.message}`;
}
