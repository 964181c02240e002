/**
 * The soak's HTTP side: a keep-alive client over node:http (cheap enough that 40-odd loops in this
 * process are not the limit), per-kind counts of every attempt, and the one retry rule every
 * client loop follows:
 *
 *   2xx            acknowledged (a reply with `Idempotent-Replayed: true` is the first write's)
 *   503            certainly not committed: safe to retry (same Idempotency-Key)
 *   504            outcome unknown: may have committed: retry with the same Idempotency-Key
 *   no reply       (connection refused/reset, timeout) outcome unknown, as 504
 *   other 5xx      a defect (counted as a violation), treated as outcome unknown
 *   429            rate limited: wait and retry
 *   other 4xx      refused: final
 *
 * A write without a key (a CAS PUT) is never sent twice: an unknown outcome is returned as such
 * and the loop reads back what happened. Every loop is bounded by the phase's clock: no new
 * operation after `stopAt`, no retry after `hardStopAt`.
 */
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { sleep } from '../lib/async.js';
import type { Verdicts } from './verdicts.js';

export interface Reply {
  status: number;
  text: string;
  headers: http.IncomingHttpHeaders;
}

/** One request's client-side bound, ms: longer than any injected pause, so a pause is no timeout. */
const REQUEST_TIMEOUT_MS = 20_000;
/** First and longest wait before a retry, ms. */
const RETRY_BASE_MS = 50;
const RETRY_MAX_MS = 1000;

const agent = new http.Agent({ keepAlive: true, maxSockets: 512, keepAliveMsecs: 1000 });

/** One request on a kept-alive socket; rejects on a transport error or after REQUEST_TIMEOUT_MS. */
export function request(base: string, method: string, p: string, body?: string, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const h: Record<string, string | number> = { ...headers };
    if (body !== undefined) {
      h['content-length'] = Buffer.byteLength(body);
      if (h['content-type'] === undefined) h['content-type'] = 'application/json';
    }
    const req = http.request(`${base}${p}`, { method, agent, headers: h, timeout: REQUEST_TIMEOUT_MS }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString(), headers: res.headers }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error(`${method} ${p}: no reply in ${REQUEST_TIMEOUT_MS} ms`), { code: 'TIMEOUT' })));
    req.on('error', reject);
    req.end(body);
  });
}

/** Attempts of one traffic kind, by what came back. */
export interface KindStats {
  loops: number;
  /** Operations started (a retry is not a new operation). */
  ops: number;
  acked: number;
  /** Final refusals (4xx): CAS 412, lease 409, no task ready 404, … */
  refused: number;
  /** Acknowledged by a replayed reply (Idempotent-Replayed: true). */
  replayed: number;
  /** Outcome never learnt (no retry allowed, or retries past the phase's end). */
  unknown: number;
  attempts: number;
  retries: number;
  /** Connection refused: the request never reached a server (certainly not committed). */
  conn_refused: number;
  /** Sent, but no reply came (reset, timeout): outcome unknown. */
  no_reply: number;
  s503: number;
  s504: number;
  s5xx_other: number;
  s429: number;
}

const newStats = (): KindStats => ({ loops: 0, ops: 0, acked: 0, refused: 0, replayed: 0, unknown: 0, attempts: 0, retries: 0, conn_refused: 0, no_reply: 0, s503: 0, s504: 0, s5xx_other: 0, s429: 0 });

/** The clock and the nodes every loop of a phase shares. */
export class Phase {
  readonly stats = new Map<string, KindStats>();
  /** performance.now() at the start of traffic. */
  t0 = performance.now();
  stopAt = Infinity;
  hardStopAt = Infinity;
  /** Acknowledged writes of every kind, and the bytes of their bodies (the disk check weighs growth by them). */
  ackedWrites = 0;
  ackedBytes = 0;

  constructor(
    /** Base URLs of the nodes (one in SQLite mode); a node killed for good is still listed (clients fail over). */
    readonly nodes: string[],
    readonly verdicts: Verdicts,
  ) {}

  kind(name: string): KindStats {
    let s = this.stats.get(name);
    if (!s) this.stats.set(name, (s = newStats()));
    return s;
  }

  /** Seconds since the start of traffic. */
  now(): number {
    return (performance.now() - this.t0) / 1000;
  }

  /** Whether a loop may start another operation. */
  running(): boolean {
    return performance.now() < this.stopAt;
  }

  /** Whether a retry may still be made. */
  retrying(): boolean {
    return performance.now() < this.hardStopAt;
  }
}

/** A client loop's handle on the nodes: its home node, moved on after a transport error. */
export class Conn {
  private home: number;

  constructor(
    readonly phase: Phase,
    readonly kind: string,
    index: number,
  ) {
    this.home = index % phase.nodes.length;
    phase.kind(kind).loops++;
  }

  get base(): string {
    return this.phase.nodes[this.home]!;
  }

  /** The next node (after a connection error: the home node may be gone). */
  failover(): void {
    this.home = (this.home + 1) % this.phase.nodes.length;
  }
}

export interface Outcome<T = any> {
  outcome: 'acked' | 'refused' | 'unknown';
  /** The last status (0: no reply). */
  status: number;
  body: T | null;
  text: string;
  replayed: boolean;
  /** Every attempt's status, 0 for no reply. */
  attempts: number[];
  /** performance.now() before the first attempt was sent, and after the last reply came. */
  sentAt: number;
  doneAt: number;
}

const parse = (text: string): any => {
  try {
    return text === '' ? null : JSON.parse(text);
  } catch {
    return null;
  }
};

const backoff = (n: number) => sleep(Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** Math.min(n, 6)));

/**
 * One operation under the retry rule above. `retry: false` (no Idempotency-Key, not safe to send
 * twice) returns `unknown` after the first ambiguous attempt (a 503 included: the caller treats
 * it as not committed and checks that it was not). GETs pass `retry: true`.
 */
export async function op(c: Conn, method: string, p: string, body: unknown, headers: Record<string, string> = {}, opts: { retry?: boolean } = {}): Promise<Outcome> {
  const s = c.phase.kind(c.kind);
  const retry = opts.retry ?? true;
  const text = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
  s.ops++;
  const attempts: number[] = [];
  const sentAt = performance.now();
  for (let n = 0; ; n++) {
    if (n > 0) s.retries++;
    s.attempts++;
    let r: Reply;
    try {
      r = await request(c.base, method, p, text, headers);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ECONNREFUSED') s.conn_refused++;
      else s.no_reply++;
      attempts.push(0);
      c.failover();
      if (!retry || !c.phase.retrying()) return finish('unknown', 0, null, '', false);
      await backoff(n);
      continue;
    }
    attempts.push(r.status);
    if (r.status >= 200 && r.status < 300) {
      const replayed = r.headers['idempotent-replayed'] === 'true';
      if (replayed) s.replayed++;
      // Every earlier attempt answered 503 ("certainly not committed"): a replayed reply says one did commit.
      const earlier = attempts.slice(0, -1);
      if (earlier.length > 0 && earlier.every((x) => x === 503) && headers['idempotency-key'] !== undefined) {
        c.phase.verdicts.check('503 never committed', !replayed, () => `${c.kind} ${method} ${p}: attempts ${earlier.join(',')} then a replayed ${r.status}`);
      }
      s.acked++;
      if (method !== 'GET') {
        c.phase.ackedWrites++;
        c.phase.ackedBytes += text === undefined ? 0 : Buffer.byteLength(text);
      }
      return finish('acked', r.status, parse(r.text), r.text, replayed);
    }
    if (r.status === 503) s.s503++;
    else if (r.status === 504) s.s504++;
    else if (r.status === 429) s.s429++;
    else if (r.status >= 500) {
      s.s5xx_other++;
      c.phase.verdicts.fail('no 5xx but 503/504', `${c.kind} ${method} ${p}: ${r.status} ${r.text.slice(0, 200)}`);
    }
    if (r.status >= 500 || r.status === 429) {
      if (!retry || !c.phase.retrying()) return finish('unknown', r.status, parse(r.text), r.text, false);
      await backoff(n);
      continue;
    }
    s.refused++;
    return finish('refused', r.status, parse(r.text), r.text, false);
  }

  function finish(outcome: Outcome['outcome'], status: number, b: unknown, t: string, replayed: boolean): Outcome {
    if (outcome === 'unknown') s.unknown++;
    return { outcome, status, body: b, text: t, replayed, attempts, sentAt, doneAt: performance.now() };
  }
}

/** A GET retried on anything but a 2xx/404 until the phase's hard stop; null if it never came. */
export async function read(c: Conn, p: string, headers: Record<string, string> = {}): Promise<Reply | null> {
  for (let n = 0; c.phase.retrying() || n === 0; n++) {
    try {
      const r = await request(c.base, 'GET', p, undefined, headers);
      if ((r.status >= 200 && r.status < 300) || r.status === 404) return r;
      if (r.status >= 500 && r.status !== 503 && r.status !== 504) c.phase.verdicts.fail('no 5xx but 503/504', `${c.kind} GET ${p}: ${r.status} ${r.text.slice(0, 200)}`);
    } catch {
      c.failover();
    }
    await backoff(n);
  }
  return null;
}
