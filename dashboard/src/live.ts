/**
 * The live event stream: the recent history once (GET /api/events/history), then one WebSocket
 * subscription to every topic, resumed with `since=<last id>` after any disconnect so no event
 * is missed or shown twice. The token travels in the subprotocol offer (`koor`,
 * `koor.bearer.<base64url>`): browsers cannot set headers on a WebSocket, and a URL would put it
 * in logs. Pages read the buffer and subscribe to changes; nothing here polls.
 */
import type { EventReply as KoorEvent } from '../../schemas/http/events.js';
import { ApiError, getJson, getToken, request } from './api.js';

/** Events kept in the page (the server's default retention). */
const LIVE_BUFFER_EVENTS = 1000;
/**
 * Pages are told of new events at most this often (the first after a quiet spell at the next
 * frame): a thousand agents' events, drawn at every frame, kept a core of the browser busy.
 */
const LIVE_FLUSH_MS = 250;
/** Events read from history when the page opens. */
const HISTORY_EVENTS = 200;
const RECONNECT_MIN_MS = 1000;
const RECONNECT_MAX_MS = 30_000;

export type LiveState = 'connecting' | 'live' | 'reconnecting' | 'unauthorized';

type Listener = (fresh: readonly KoorEvent[]) => void;

function base64url(s: string): string {
  const bytes = new TextEncoder().encode(s);
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export class LiveStream {
  /** Oldest first, at most LIVE_BUFFER_EVENTS. */
  events: KoorEvent[] = [];
  lastId = 0;
  state: LiveState = 'connecting';
  private ws: WebSocket | null = null;
  private retryMs = RECONNECT_MIN_MS;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private flushedAt = -Infinity;
  private pending: KoorEvent[] = [];
  private flushScheduled = false;
  private stopped = false;
  private readonly listeners = new Set<Listener>();
  private readonly stateListeners = new Set<(s: LiveState) => void>();

  async start(): Promise<void> {
    try {
      const recent = await getJson<'GET /api/events/history'>(`/api/events/history?last=${HISTORY_EVENTS}`);
      recent.reverse();
      this.add(recent);
      this.flush();
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) return this.setState('unauthorized');
      // No history (server busy): the subscription still starts from now.
    }
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.ws?.close(1000, 'page closed');
  }

  /** Called with the events that arrived since the last call (batched per animation frame). */
  subscribe(fn: Listener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  onState(fn: (s: LiveState) => void): () => void {
    this.stateListeners.add(fn);
    return () => this.stateListeners.delete(fn);
  }

  private setState(s: LiveState): void {
    if (this.state === s) return;
    this.state = s;
    for (const fn of this.stateListeners) fn(s);
  }

  private connect(): void {
    if (this.stopped) return;
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const url = `${scheme}://${location.host}/api/events/subscribe?pattern=*&since=${this.lastId}`;
    const token = getToken();
    const protocols = token === '' ? ['koor'] : ['koor', `koor.bearer.${base64url(token)}`];
    let opened = false;
    const ws = new WebSocket(url, protocols);
    this.ws = ws;
    ws.onopen = () => {
      opened = true;
      this.retryMs = RECONNECT_MIN_MS;
      this.setState('live');
    };
    ws.onmessage = (m) => {
      try {
        this.add([JSON.parse(String(m.data)) as KoorEvent]);
      } catch {
        // Not an event frame: ignored.
      }
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.stopped) return;
      this.setState('reconnecting');
      // Refused before opening: a token problem looks the same as a dead server here, so ask.
      if (!opened) void this.checkAuth();
      this.retryTimer = setTimeout(() => this.connect(), this.retryMs);
      this.retryMs = Math.min(this.retryMs * 2, RECONNECT_MAX_MS);
    };
  }

  private async checkAuth(): Promise<void> {
    try {
      await request('GET', '/health');
      await request('GET', '/api/metrics');
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) {
        if (this.retryTimer) clearTimeout(this.retryTimer);
        this.setState('unauthorized');
      }
    }
  }

  private add(list: readonly KoorEvent[]): void {
    for (const e of list) {
      if (e.id <= this.lastId) continue;
      this.lastId = e.id;
      this.pending.push(e);
    }
    if (this.pending.length > 0 && !this.flushScheduled) {
      this.flushScheduled = true;
      // One render per LIVE_FLUSH_MS, on a frame, however fast events arrive (a background tab still buffers).
      const wait = Math.max(0, this.flushedAt + LIVE_FLUSH_MS - performance.now());
      const visible = document.visibilityState === 'visible';
      if (visible && wait === 0) requestAnimationFrame(() => this.flush());
      else setTimeout(() => (document.visibilityState === 'visible' ? requestAnimationFrame(() => this.flush()) : this.flush()), visible ? wait : Math.max(wait, LIVE_FLUSH_MS));
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    this.flushedAt = performance.now();
    if (this.pending.length === 0) return;
    const fresh = this.pending;
    this.pending = [];
    this.events = this.events.concat(fresh);
    if (this.events.length > LIVE_BUFFER_EVENTS) this.events = this.events.slice(-LIVE_BUFFER_EVENTS);
    for (const fn of this.listeners) fn(fresh);
  }
}
