import { createHmac } from 'node:crypto';
import { WEBHOOK_MAX_REPLY_BYTES, WEBHOOK_TIMEOUT_MS } from '../../limits.js';

export type DeliveryResult = { ok: true; status: number } | { ok: false; error: string };

/** `X-Koor-Signature`: lowercase hex HMAC-SHA256 of the exact body bytes (SPEC §2.11). */
export function signature(secret: string, body: string): string {
  return createHmac('sha256', secret).update(body).digest('hex');
}

/** Reads and discards a reply body, at most WEBHOOK_MAX_REPLY_BYTES (the connection is then reusable). */
async function drain(res: Response): Promise<void> {
  if (!res.body) return;
  const reader = res.body.getReader();
  let read = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    read += value.byteLength;
    if (read > WEBHOOK_MAX_REPLY_BYTES) {
      await reader.cancel();
      return;
    }
  }
}

/**
 * One POST of `body` to `url` (SPEC §2.11): success = a status below 400 within
 * WEBHOOK_TIMEOUT_MS (the reply body included). Redirects are not followed (a 3xx is a reply
 * below 400). `signal` aborts it early (shutdown).
 */
export async function deliver(url: string, secret: string, body: string, signal?: AbortSignal): Promise<DeliveryResult> {
  const headers: Record<string, string> = { 'Content-Type': 'application/json', 'X-Koor-Event': 'true' };
  if (secret !== '') headers['X-Koor-Signature'] = signature(secret, body);
  const timeout = AbortSignal.timeout(WEBHOOK_TIMEOUT_MS);
  try {
    const res = await fetch(url, { method: 'POST', headers, body, redirect: 'manual', signal: signal ? AbortSignal.any([signal, timeout]) : timeout });
    await drain(res);
    if (res.status >= 400) return { ok: false, error: `webhook returned status ${res.status}` };
    return { ok: true, status: res.status };
  } catch (e) {
    return { ok: false, error: reason(e, timeout) };
  }
}

function reason(e: unknown, timeout: AbortSignal): string {
  if (timeout.aborted) return `no reply within ${WEBHOOK_TIMEOUT_MS / 1000} s`;
  const err = e as Error & { cause?: { code?: string; message?: string } };
  if (err.name === 'AbortError') return 'delivery aborted';
  const cause = err.cause?.code ?? err.cause?.message;
  return cause ? `${err.message}: ${cause}` : err.message;
}
