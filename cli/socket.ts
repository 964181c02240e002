import WebSocket from 'ws';
import type { IncomingMessage } from 'node:http';
import { describeError, isCertificateError, serverCa, type CliConfig } from './core.js';

/**
 * The one reconnecting WebSocket client of koor-cli, under `events subscribe`, `state watch` and
 * `wait` (its inbox stream and its task events): what each of them needs from a socket that has to
 * outlive disconnects, written once. The command keeps what is its own: what the frames mean, where
 * to resume (it names the URL before every attempt), what it prints.
 *
 * - Reconnects back off exponentially from RECONNECT_MIN_MS to RECONNECT_MAX_MS with ±20 % jitter
 *   (reset once a connection opens); a close after an open that `quickAfter(code)` accepts (the
 *   4008 slow-consumer close; for `wait`, any close) reconnects at the minimum delay.
 * - A ping goes out every HEARTBEAT_MS; no pong or frame by the next one and the socket is dead.
 * - Koor's own refusal of the upgrade (401, 403, or a 400 carrying Koor's error JSON) and an
 *   untrusted certificate are final: the command is told, and nothing is retried. Any other 4xx
 *   (but 408 and 429) means the server or a proxy refuses WebSockets: the command's poll round
 *   runs every POLL_INTERVAL_MS instead (without one, the socket is retried). 5xx, 408, 429 and
 *   failed connections are retried.
 * - stop() ends it: timers cleared, socket terminated, no callback after it.
 */

const RECONNECT_MIN_MS = 250;
const RECONNECT_MAX_MS = 5_000;
export const POLL_INTERVAL_MS = 2_000;
const HANDSHAKE_TIMEOUT_MS = 10_000;
/** A ping goes out this often; no pong by the next one → the socket is considered dead. */
const HEARTBEAT_MS = 30_000;

export interface SocketHandlers {
  /** The address of the next attempt, with the command's resume point (asked before every attempt). */
  url(): string | Promise<string>;
  /** The upgrade's reply headers (before open). */
  upgrade?(res: IncomingMessage): void;
  /** The socket is open (again). */
  open(): void;
  frame(text: string): void;
  /** Trouble, and the next attempt in `delayMs`. */
  retrying(what: string, delayMs: number): void;
  /** Koor refused the upgrade (401, 403, a 400 with its error JSON): final. */
  refused(status: number, body: Buffer, res: IncomingMessage): void;
  /** The server's certificate is not trusted: final (`described` is the error's text). */
  untrusted(e: Error, described: string): void;
  /** A close after an open that reconnects at the minimum delay. */
  quickAfter(code: number): boolean;
  /** The fallback when WebSockets are refused: one round, run every POLL_INTERVAL_MS. Absent: the socket is retried. */
  poll?: {
    /** Polling starts (the upgrade's status). */
    start(status: number): void;
    round(): Promise<void>;
    failed(e: unknown): void;
  };
}

export class ReconnectingSocket {
  private ws: WebSocket | null = null;
  private timer: NodeJS.Timeout | null = null;
  private heartbeat: NodeJS.Timeout | null = null;
  private failures = 0;
  private stopped = false;

  constructor(
    private readonly config: CliConfig,
    private readonly headers: Record<string, string>,
    private readonly on: SocketHandlers,
  ) {}

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.ws?.terminate();
  }

  async connect(): Promise<void> {
    if (this.stopped) return;
    // A fixed address (wait) opens at once, without a turn of the event loop.
    const next = this.on.url();
    const url = typeof next === 'string' ? next : await next;
    if (this.stopped) return;
    const ca = serverCa(this.config);
    const ws = new WebSocket(url, { headers: this.headers, perMessageDeflate: false, handshakeTimeout: HANDSHAKE_TIMEOUT_MS, ...(ca === undefined ? {} : { ca }) });
    this.ws = ws;
    let opened = false;
    let handled = false;
    let lastError = '';
    let alive = true;

    ws.on('upgrade', (res: IncomingMessage) => this.on.upgrade?.(res));
    ws.on('open', () => {
      opened = true;
      this.failures = 0;
      this.heartbeat = setInterval(() => {
        if (!alive) return ws.terminate();
        alive = false;
        ws.ping();
      }, HEARTBEAT_MS);
      this.heartbeat.unref();
      this.on.open();
    });
    ws.on('pong', () => (alive = true));
    ws.on('message', (data: WebSocket.RawData) => {
      alive = true;
      if (!this.stopped) this.on.frame(Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.from(data as ArrayBuffer).toString('utf8'));
    });
    ws.on('unexpected-response', (req, res: IncomingMessage) => {
      handled = true;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        req.destroy();
        ws.terminate();
        this.refusedUpgrade(res, Buffer.concat(chunks));
      });
      res.on('error', () => {
        ws.terminate();
        this.retry(`upgrade failed (HTTP ${res.statusCode})`);
      });
    });
    ws.on('error', (e) => {
      lastError = describeError(e);
      // An untrusted certificate stays untrusted: never a retry loop.
      if (!isCertificateError(e)) return;
      handled = true;
      if (!this.stopped) this.on.untrusted(e, lastError);
    });
    ws.on('close', (code: number, reason: Buffer) => {
      if (this.heartbeat) clearInterval(this.heartbeat);
      this.heartbeat = null;
      if (this.stopped || handled) return;
      if (!opened) return this.retry(`connection failed: ${lastError || `code ${code}`}`);
      const why = reason.length > 0 ? `code ${code}: ${reason.toString('utf8')}` : `code ${code}`;
      this.retry(`disconnected (${why})`, this.on.quickAfter(code));
    });
  }

  private retry(what: string, quick = false): void {
    if (this.stopped) return;
    const base = quick ? RECONNECT_MIN_MS : Math.min(RECONNECT_MAX_MS, RECONNECT_MIN_MS * 2 ** this.failures);
    const delay = Math.round(base * (0.8 + Math.random() * 0.4));
    this.failures++;
    this.on.retrying(what, delay);
    this.timer = setTimeout(() => void this.connect(), delay);
  }

  private refusedUpgrade(res: IncomingMessage, body: Buffer): void {
    if (this.stopped) return;
    const status = res.statusCode ?? 0;
    // A 400 carrying Koor's own error JSON (a malformed pattern, no identity) is the caller's
    // mistake, not a server refusing WebSockets: polling would only repeat it.
    if (status === 401 || status === 403 || (status === 400 && isKoorError(body))) return this.on.refused(status, body, res);
    if (this.on.poll && status >= 400 && status < 500 && status !== 408 && status !== 429) {
      this.on.poll.start(status);
      return void this.poll();
    }
    this.retry(`upgrade failed (HTTP ${status})`);
  }

  private async poll(): Promise<void> {
    if (this.stopped) return;
    try {
      await this.on.poll!.round();
    } catch (e) {
      if (!this.stopped) this.on.poll!.failed(e);
    }
    if (!this.stopped) this.timer = setTimeout(() => void this.poll(), POLL_INTERVAL_MS);
  }
}

/** `{"error": "...", "code": N}`: the server's own error reply (not a proxy's page). */
function isKoorError(body: Buffer): boolean {
  try {
    const v = JSON.parse(body.toString('utf8')) as { error?: unknown; code?: unknown };
    return typeof v.error === 'string' && typeof v.code === 'number';
  } catch {
    return false;
  }
}
