import WebSocket from 'ws';
import type { IncomingMessage } from 'node:http';
import { authHeaders, describeError, formatBody, isCertificateError, isJsonText, parseServer, query, reindentJson, request, serverCa, tlsHint, type CliConfig } from './core.js';

/**
 * `koor-cli events subscribe` (SPEC §4.3, §7-15, §7-17, §8.2): a WebSocket client that prints one
 * compact Event JSON per stdout line and survives disconnects without losing or repeating events.
 *
 * - Before the first connection it asks the history for the newest id, so the subscription starts
 *   gap-free from "now" even if the first socket drops before any event arrives.
 * - Every (re)connection carries `since=<last id printed>`; the server replays what was missed, then
 *   streams live. Ids already printed are skipped as well (bounded set), so an overlap cannot repeat.
 * - Reconnects back off exponentially from RECONNECT_MIN_MS to RECONNECT_MAX_MS (reset once a
 *   connection opens); a 4008 slow-consumer close reconnects at the minimum delay.
 * - 401/403 on the upgrade is fatal (reply on stdout, exit 1), and so is a 400 with Koor's error
 *   JSON (a malformed pattern). Any other 4xx means the server (or a proxy) refuses WebSockets:
 *   fall back to polling `GET /api/events/history?since=` every 2 s.
 * - SIGINT/SIGTERM exit 0; a closed stdout (`| head`) exits 0.
 */

const RECONNECT_MIN_MS = 250;
const RECONNECT_MAX_MS = 5_000;
const POLL_INTERVAL_MS = 2_000;
const HANDSHAKE_TIMEOUT_MS = 10_000;
/** A ping goes out this often; no pong by the next one → the socket is considered dead. */
const HEARTBEAT_MS = 30_000;
/** How many printed ids are remembered for de-duplication. */
const SEEN_IDS_MAX = 10_000;
const WS_CLOSE_SLOW_CONSUMER = 4008;

export interface SubscribeOptions {
  config: CliConfig;
  pattern: string;
  pretty: boolean;
  /**
   * A state watch instead (issue 31, `koor-cli state watch`): the WebSocket path with its query,
   * where the newest revision is read first (its X-Koor-Revision), and what is printed: one
   * change per line, resumed with `since_revision=` by the `revision` of the last one printed.
   */
  watch?: { path: string; baseline: string };
}

/** How the stream is addressed: events by `id` and `since`, changes by `revision` and `since_revision`. */
interface Stream {
  idField: 'id' | 'revision';
  sinceParam: 'since' | 'since_revision';
  oldestHeader: string;
}
const EVENTS: Stream = { idField: 'id', sinceParam: 'since', oldestHeader: 'x-koor-oldest-event' };
const CHANGES: Stream = { idField: 'revision', sinceParam: 'since_revision', oldestHeader: 'x-koor-oldest-revision' };

export function subscribe(opts: SubscribeOptions): Promise<number> {
  parseServer(opts.config);
  serverCa(opts.config); // an unreadable CA file is reported now, once
  return new Promise((resolve) => new Subscriber(opts, resolve).start());
}

function log(line: string): void {
  process.stderr.write(line + '\n');
}

/** Top-level element texts of a JSON array text (valid JSON assumed), without re-serialising them. */
export function splitJsonArray(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = -1;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '"') {
      if (depth === 1 && start === -1) start = i;
      i++;
      while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
      continue;
    }
    if (depth === 1 && start === -1 && !' \t\n\r,]'.includes(c)) start = i;
    if (c === '[' || c === '{') depth++;
    else if (c === ']' || c === '}') {
      depth--;
      if (depth === 0 && start !== -1) {
        out.push(text.slice(start, i).trim());
        start = -1;
      }
    } else if (c === ',' && depth === 1) {
      out.push(text.slice(start, i).trim());
      start = -1;
    }
  }
  return out;
}

class Subscriber {
  private readonly wsBase: string;
  private lastId: number | null = null;
  private readonly seen = new Set<number>();
  private ws: WebSocket | null = null;
  private timer: NodeJS.Timeout | null = null;
  private heartbeat: NodeJS.Timeout | null = null;
  private failures = 0;
  private stopped = false;
  private readonly stream: Stream;

  constructor(
    private readonly opts: SubscribeOptions,
    private readonly done: (code: number) => void,
  ) {
    const base = opts.config.server.replace(/^http(s?):/i, 'ws$1:');
    this.stream = opts.watch ? CHANGES : EVENTS;
    this.wsBase = opts.watch ? `${base}${opts.watch.path}` : `${base}/api/events/subscribe${query({ pattern: opts.pattern })}`;
  }

  start(): void {
    const stop = () => this.stop(0);
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    process.stdout.on('error', (e: NodeJS.ErrnoException) => this.stop(e.code === 'EPIPE' ? 0 : 1));
    log(this.opts.watch ? `watching ${this.wsBase}...` : `subscribing to ${this.wsBase} (pattern: ${this.opts.pattern})...`);
    void this.connect();
  }

  private stop(code: number): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.ws?.terminate();
    this.done(code); // main.ts exits as soon as the command resolves
  }

  /** The newest event id, so the first connection already carries `since` (null if unknown). */
  private async baseline(): Promise<void> {
    if (this.opts.watch) {
      try {
        const r = await request(this.opts.config, 'GET', this.opts.watch.baseline);
        const rev = Number(r.headers['x-koor-revision']);
        if (r.status === 200 && Number.isSafeInteger(rev)) this.lastId = rev;
      } catch {
        // the connection attempt reports it
      }
      return;
    }
    try {
      const r = await request(this.opts.config, 'GET', '/api/events/history?last=1');
      if (r.status !== 200) return;
      const list: unknown = JSON.parse(r.body.toString('utf8'));
      if (!Array.isArray(list)) return;
      const id = (list[0] as { id?: unknown } | undefined)?.id;
      this.lastId = typeof id === 'number' && Number.isSafeInteger(id) ? id : 0;
    } catch {
      // Server unreachable or odd reply: the connection attempt reports it.
    }
  }

  private async connect(): Promise<void> {
    if (this.lastId === null) await this.baseline();
    if (this.stopped) return;
    const since = this.lastId;
    const url = since === null ? this.wsBase : `${this.wsBase}${this.wsBase.includes('?') ? '&' : '?'}${this.stream.sinceParam}=${since}`;
    const ca = serverCa(this.opts.config);
    const ws = new WebSocket(url, { headers: authHeaders(this.opts.config), perMessageDeflate: false, handshakeTimeout: HANDSHAKE_TIMEOUT_MS, ...(ca === undefined ? {} : { ca }) });
    this.ws = ws;
    let opened = false;
    let handled = false;
    let lastError = '';
    let alive = true;

    ws.on('upgrade', (res: IncomingMessage) => {
      const oldest = Number(res.headers[this.stream.oldestHeader]);
      if (since !== null && Number.isSafeInteger(oldest) && oldest > since + 1) {
        log(`warning: ${this.opts.watch ? 'changes' : 'events'} ${since + 1}..${oldest - 1} were pruned before they could be delivered${this.opts.watch ? ': re-read the keys' : ''}`);
      }
    });
    ws.on('open', () => {
      opened = true;
      this.failures = 0;
      log(since === null ? 'connected' : `connected (since=${since})`);
      this.heartbeat = setInterval(() => {
        if (!alive) return ws.terminate();
        alive = false;
        ws.ping();
      }, HEARTBEAT_MS);
      this.heartbeat.unref();
    });
    ws.on('pong', () => (alive = true));
    ws.on('message', (data: WebSocket.RawData) => {
      alive = true;
      this.onEvent(Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.from(data as ArrayBuffer).toString('utf8'));
    });
    ws.on('unexpected-response', (req, res: IncomingMessage) => {
      handled = true;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        req.destroy();
        ws.terminate();
        this.onRefused(res, Buffer.concat(chunks));
      });
      res.on('error', () => {
        ws.terminate();
        this.retry(`upgrade failed (HTTP ${res.statusCode})`);
      });
    });
    ws.on('error', (e) => {
      lastError = describeError(e);
      // An untrusted certificate stays untrusted: one line and exit, never a retry loop.
      if (!isCertificateError(e)) return;
      handled = true;
      log(`error: connection failed: ${lastError}${tlsHint(e, this.opts.config)}`);
      this.stop(1);
    });
    ws.on('close', (code: number, reason: Buffer) => {
      if (this.heartbeat) clearInterval(this.heartbeat);
      this.heartbeat = null;
      if (this.stopped || handled) return;
      if (!opened) return this.retry(`connection failed: ${lastError || `code ${code}`}`);
      const why = reason.length > 0 ? `code ${code}: ${reason.toString('utf8')}` : `code ${code}`;
      this.retry(`disconnected (${why})`, code === WS_CLOSE_SLOW_CONSUMER);
    });
  }

  private retry(what: string, immediate = false): void {
    if (this.stopped) return;
    const base = immediate ? RECONNECT_MIN_MS : Math.min(RECONNECT_MAX_MS, RECONNECT_MIN_MS * 2 ** this.failures);
    const delay = Math.round(base * (0.8 + Math.random() * 0.4));
    this.failures++;
    log(`${what}; reconnecting in ${delay} ms${this.lastId === null ? '' : ` (since=${this.lastId})`}`);
    this.timer = setTimeout(() => void this.connect(), delay);
  }

  private onRefused(res: IncomingMessage, body: Buffer): void {
    const status = res.statusCode ?? 0;
    // A 400 carrying Koor's own error JSON (a malformed pattern, a bad since) is our mistake, not
    // a server refusing WebSockets: polling would only repeat it. Fatal, like a refused token.
    if (status === 401 || status === 403 || (status === 400 && isKoorError(body))) {
      const ct = res.headers['content-type'];
      process.stdout.write(formatBody(body, Array.isArray(ct) ? ct[0] : ct, this.opts.pretty));
      log(`error: subscribe refused (HTTP ${status})`);
      return this.stop(1);
    }
    if (!this.opts.watch && status >= 400 && status < 500 && status !== 408 && status !== 429) {
      log(`websocket upgrade refused (HTTP ${status}); falling back to polling history every ${POLL_INTERVAL_MS / 1000} seconds...`);
      return void this.poll();
    }
    this.retry(`upgrade failed (HTTP ${status})`);
  }

  /** Polling fallback (SPEC §4.3): history after the last id, oldest first; poll errors on stderr. */
  private async poll(): Promise<void> {
    if (this.stopped) return;
    const topic = this.opts.pattern === '*' ? undefined : this.opts.pattern;
    try {
      const q = this.lastId === null ? query({ last: 10, topic }) : query({ since: this.lastId, topic });
      const r = await request(this.opts.config, 'GET', `/api/events/history${q}`);
      const text = r.body.toString('utf8');
      if (r.status !== 200) throw new Error(`HTTP ${r.status} ${text.trim()}`);
      if (!isJsonText(text) || !text.trimStart().startsWith('[')) throw new Error('history reply is not a JSON array');
      const floor = this.lastId;
      const items = splitJsonArray(text)
        .map((raw) => ({ raw, id: eventId(raw) }))
        .filter((e) => floor === null || e.id === null || e.id > floor)
        .sort((a, b) => (a.id ?? 0) - (b.id ?? 0));
      for (const e of items) this.onEvent(e.raw);
      // Nothing matched in the first window: go on from the newest event, never from 0 (that
      // would replay every old match of a rare topic on the next poll).
      if (this.lastId === null) await this.baseline();
      // A read examines one window of ids: one that held no match (or fewer than asked) names
      // where the next begins, so a filter matching little still moves forward (issue 33).
      const next = /^since=(\d+)$/.exec(r.headers['x-koor-next'] ?? '');
      if (next && floor !== null && this.lastId !== null && Number(next[1]) > this.lastId) this.lastId = Number(next[1]);
    } catch (e) {
      log(`poll error: ${describeError(e)}`);
    }
    if (!this.stopped) this.timer = setTimeout(() => void this.poll(), POLL_INTERVAL_MS);
  }

  private onEvent(text: string): void {
    const id = eventId(text, this.stream.idField);
    if (id !== null) {
      if (this.seen.has(id)) return;
      this.seen.add(id);
      if (this.seen.size > SEEN_IDS_MAX) this.seen.delete(this.seen.values().next().value as number);
      if (this.lastId === null || id > this.lastId) this.lastId = id;
    }
    const valid = isJsonText(text);
    const line = !valid ? text.replace(/\r?\n/g, ' ') : this.opts.pretty ? reindentJson(text, 2) : text.includes('\n') ? reindentJson(text, 0) : text;
    process.stdout.write(line + '\n');
  }
}

function eventId(text: string, field: 'id' | 'revision' = 'id'): number | null {
  try {
    const v: unknown = JSON.parse(text);
    const id = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[field] : undefined;
    return typeof id === 'number' && Number.isSafeInteger(id) ? id : null;
  } catch {
    return null;
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
