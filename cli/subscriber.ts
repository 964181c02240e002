import type { IncomingMessage } from 'node:http';
import { authHeaders, describeError, formatBody, isJsonText, parseServer, query, reindentJson, request, serverCa, tlsHint, type CliConfig } from './core.js';
import { POLL_INTERVAL_MS, ReconnectingSocket } from './socket.js';

/**
 * `koor-cli events subscribe`: a WebSocket client that prints one
 * compact Event JSON per stdout line and survives disconnects without losing or repeating events.
 *
 * - Before the first connection it asks the history for the newest id, so the subscription starts
 *   gap-free from "now" even if the first socket drops before any event arrives.
 * - Every (re)connection carries `since=<last id printed>`; the server replays what was missed, then
 *   streams live. Ids already printed are skipped as well (bounded set), so an overlap cannot repeat.
 * - Reconnects back off (cli/socket.ts, shared with `wait`); a 4008 slow-consumer close reconnects
 *   at the minimum delay.
 * - 401/403 on the upgrade is fatal (reply on stdout, exit 1), and so is a 400 with Koor's error
 *   JSON (a malformed pattern). Any other 4xx means the server (or a proxy) refuses WebSockets:
 *   fall back to polling `GET /api/events/history?since=` every 2 s.
 * - SIGINT/SIGTERM exit 0; a closed stdout (`| head`) exits 0.
 */

/** How many printed ids are remembered for de-duplication. */
const SEEN_IDS_MAX = 10_000;
const WS_CLOSE_SLOW_CONSUMER = 4008;

export interface SubscribeOptions {
  config: CliConfig;
  pattern: string;
  pretty: boolean;
  /**
   * A state watch instead (`koor-cli state watch`): the WebSocket path with its query,
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
  /** The resume point of the current attempt (what `connected (since=…)` says). */
  private since: number | null = null;
  private readonly seen = new Set<number>();
  private readonly socket: ReconnectingSocket;
  private stopped = false;
  private readonly stream: Stream;

  constructor(
    private readonly opts: SubscribeOptions,
    private readonly done: (code: number) => void,
  ) {
    const base = opts.config.server.replace(/^http(s?):/i, 'ws$1:');
    this.stream = opts.watch ? CHANGES : EVENTS;
    this.wsBase = opts.watch ? `${base}${opts.watch.path}` : `${base}/api/events/subscribe${query({ pattern: opts.pattern })}`;
    this.socket = new ReconnectingSocket(opts.config, authHeaders(opts.config), {
      url: () => this.url(),
      upgrade: (res) => this.onUpgrade(res),
      open: () => log(this.since === null ? 'connected' : `connected (since=${this.since})`),
      frame: (text) => this.onEvent(text),
      retrying: (what, delay) => log(`${what}; reconnecting in ${delay} ms${this.lastId === null ? '' : ` (since=${this.lastId})`}`),
      refused: (status, body, res) => {
        const ct = res.headers['content-type'];
        process.stdout.write(formatBody(body, Array.isArray(ct) ? ct[0] : ct, this.opts.pretty));
        log(`error: subscribe refused (HTTP ${status})`);
        this.stop(1);
      },
      untrusted: (e, described) => {
        log(`error: connection failed: ${described}${tlsHint(e, this.opts.config)}`);
        this.stop(1);
      },
      quickAfter: (code) => code === WS_CLOSE_SLOW_CONSUMER,
      // A state watch has no history to poll: its socket is retried.
      ...(opts.watch
        ? {}
        : {
            poll: {
              start: (status: number) => log(`websocket upgrade refused (HTTP ${status}); falling back to polling history every ${POLL_INTERVAL_MS / 1000} seconds...`),
              round: () => this.poll(),
              failed: (e: unknown) => log(`poll error: ${describeError(e)}`),
            },
          }),
    });
  }

  start(): void {
    const stop = () => this.stop(0);
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    process.stdout.on('error', (e: NodeJS.ErrnoException) => this.stop(e.code === 'EPIPE' ? 0 : 1));
    log(this.opts.watch ? `watching ${this.wsBase}...` : `subscribing to ${this.wsBase} (pattern: ${this.opts.pattern})...`);
    void this.socket.connect();
  }

  private stop(code: number): void {
    if (this.stopped) return;
    this.stopped = true;
    this.socket.stop();
    this.done(code); // main.ts exits as soon as the command resolves
  }

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

  /** Every (re)connection resumes after the last id printed (the newest one before the start, first). */
  private async url(): Promise<string> {
    if (this.lastId === null) await this.baseline();
    const since = (this.since = this.lastId);
    return since === null ? this.wsBase : `${this.wsBase}${this.wsBase.includes('?') ? '&' : '?'}${this.stream.sinceParam}=${since}`;
  }

  private onUpgrade(res: IncomingMessage): void {
    const since = this.since;
    const oldest = Number(res.headers[this.stream.oldestHeader]);
    if (since !== null && Number.isSafeInteger(oldest) && oldest > since + 1) {
      log(`warning: ${this.opts.watch ? 'changes' : 'events'} ${since + 1}..${oldest - 1} were pruned before they could be delivered${this.opts.watch ? ': re-read the keys' : ''}`);
    }
  }

  /** Polling fallback: history after the last id, oldest first (a failed round is said on stderr and tried again). */
  private async poll(): Promise<void> {
    const topic = this.opts.pattern === '*' ? undefined : this.opts.pattern;
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
    // where the next begins, so a filter matching little still moves forward.
    const next = /^since=(\d+)$/.exec(r.headers['x-koor-next'] ?? '');
    if (next && floor !== null && this.lastId !== null && Number(next[1]) > this.lastId) this.lastId = Number(next[1]);
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
