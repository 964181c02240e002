import http from 'node:http';
import https from 'node:https';
import { createHmac } from 'node:crypto';
import { post, requestHead } from './http1.js';

export type DeliveryResult = { ok: true; status: number } | { ok: false; error: string };

/** `X-Koor-Signature`: lowercase hex HMAC-SHA256 of the exact body bytes. */
function signature(secret: string, body: string): string {
  return createHmac('sha256', secret).update(body).digest('hex');
}

export interface DeliverLimits {
  timeoutMs: number;
  maxReplyBytes: number;
  /** Keep-alive connections per receiver (node:http, for https: and URLs with credentials). */
  agents: { 'http:': http.Agent; 'https:': https.Agent };
  /** Idle keep-alive connections kept per receiver by the plain http: client (http1.ts). */
  maxIdle: number;
}

/**
 * Keep-alive connections per receiver. Plain http: receivers get the small client of http1.ts
 * (~45 µs of CPU per POST); https: and URLs with credentials go through node:http(s) (~125 µs),
 * never fetch (~300 µs on Node 20).
 */
export function deliverLimits(timeoutMs: number, maxReplyBytes: number, maxSockets: number): DeliverLimits {
  return {
    timeoutMs,
    maxReplyBytes,
    agents: { 'http:': new http.Agent({ keepAlive: true, maxSockets }), 'https:': new https.Agent({ keepAlive: true, maxSockets }) },
    maxIdle: maxSockets,
  };
}

/**
 * One POST of `body` to `url`: success = a status below 400 within
 * `limits.timeoutMs` (the reply body, read and discarded up to `limits.maxReplyBytes`, included).
 * Redirects are not followed (a 3xx is a reply below 400). `signal` aborts it early.
 */
export function deliver(limits: DeliverLimits, url: string, secret: string, body: string, signal?: AbortSignal): Promise<DeliveryResult> {
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    return Promise.resolve({ ok: false, error: `invalid URL: ${url}` });
  }
  if (target.protocol !== 'http:' && target.protocol !== 'https:') return Promise.resolve({ ok: false, error: `unsupported URL scheme: ${target.protocol}` });
  // The delivery headers (docs/operations.md#webhooks), whichever client sends them.
  const head: Array<[string, string]> = [['Content-Type', 'application/json'], ['X-Koor-Event', 'true']];
  if (secret !== '') head.push(['X-Koor-Signature', signature(secret, body)]);
  if (target.protocol === 'http:' && target.username === '' && target.password === '') {
    return post(limits, target, Buffer.from(requestHead(target, head, Buffer.byteLength(body)) + body), signal);
  }
  const payload = Buffer.from(body);
  const headers = { ...Object.fromEntries(head), 'Content-Length': payload.length };
  const timeout = AbortSignal.timeout(limits.timeoutMs);
  const lib = target.protocol === 'https:' ? https : http;
  return new Promise((resolve) => {
    let settled = false;
    const finish = (r: DeliveryResult) => {
      if (settled) return;
      settled = true;
      resolve(r);
    };
    const req = lib.request(target, { method: 'POST', headers, agent: limits.agents[target.protocol as 'http:' | 'https:'], signal: signal ? AbortSignal.any([signal, timeout]) : timeout }, (res) => {
      const status = res.statusCode ?? 0;
      const outcome: DeliveryResult = status >= 400 ? { ok: false, error: `webhook returned status ${status}` } : { ok: true, status };
      let read = 0;
      res.on('data', (chunk: Buffer) => {
        read += chunk.length;
        if (read > limits.maxReplyBytes) res.destroy(); // enough: the status decides
      });
      res.on('end', () => finish(outcome));
      res.on('close', () => finish(read > limits.maxReplyBytes || res.complete ? outcome : { ok: false, error: reasonOf(new Error('reply cut short'), timeout, limits.timeoutMs) }));
      res.on('error', () => undefined); // 'close' follows and decides
    });
    req.on('error', (e) => finish({ ok: false, error: reasonOf(e, timeout, limits.timeoutMs) }));
    req.end(payload);
  });
}

function reasonOf(e: unknown, timeout: AbortSignal, timeoutMs: number): string {
  if (timeout.aborted) return `no reply within ${timeoutMs / 1000} s`;
  const err = e as Error & { code?: string };
  if (err.name === 'AbortError') return 'delivery aborted';
  // A refused certificate's code alone (DEPTH_ZERO_SELF_SIGNED_CERT) hides the reason: both.
  if (err.code && CERT_ERROR.test(err.code)) return `request failed: ${err.code} (${err.message})`;
  return err.code ? `request failed: ${err.code}` : `request failed: ${err.message}`;
}

/** Node's (OpenSSL's) codes for a receiver certificate that is not trusted or does not fit. */
const CERT_ERROR = /^(DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_(GET_ISSUER_CERT(_LOCALLY)?|VERIFY_LEAF_SIGNATURE)|CERT_[A-Z_]+|ERR_TLS_CERT_ALTNAME_INVALID)$/;
