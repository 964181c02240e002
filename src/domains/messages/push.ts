import type { WebSocket } from 'uWebSockets.js';
import type { Hub } from '../../bus/hub.js';
import { fail } from '../../errors.js';
import { flagParam, sinceParam } from '../../http/query.js';
import type { Slots, WsCallbacks } from '../../http/slots.js';
import type { Logger } from '../../log.js';
import { INBOX_PUSH_PAGE, MESSAGE_MAX_BODY_BYTES } from '../../shared/limits-features.js';
import { SocketOutlet } from '../../ws/outlet.js';
import { streamSocketOptions } from '../../ws/subscribe.js';
import { acceptUpgrade, type UpgradeDeps } from '../../ws/upgrade.js';
import { pending, then } from '../../shared/awaitable.js';
import type { MessageReader } from './reader.js';
import { inboxItemJson } from './service.js';

export const INBOX_SUBSCRIBE_PATH = '/api/inbox/subscribe';

/** One connected recipient: where its stream stands, read from the database as it can take it. */
interface Stream {
  readonly recipient: string;
  /** The last message id sent (or the start: `since`, else the newest at connect). */
  cursor: number;
  readonly unreadOnly: boolean;
  ws: WebSocket<StreamData> | null;
  /** Its socket as items are written to it (the same backpressure rule as event subscribers). */
  out: SocketOutlet | null;
  pulling: boolean;
  again: boolean;
  closed: boolean;
}

interface StreamData {
  stream: Stream;
  cb: WsCallbacks<StreamData>;
}

/**
 * The inbox's live push: `ws://…/api/inbox/subscribe[?since=<id>][&unread=1]` streams
 * the caller's inbox items (the GET /api/inbox item JSON, one per frame) as they commit.
 *
 * Nothing is queued in memory: the database is the queue. A committed `message.sent` event (this
 * node's writer, or in cluster mode the event feed) wakes the streams of its recipients; each
 * reads its items after its cursor in id order (message ids commit in id order on both
 * backends), so a stream has no gap and no duplicate, and a reconnect with `since=<last id>`
 * resumes exactly. A socket past its buffer is not written to until it drains (a new message's
 * wake-up writes nothing to it); then reading goes on from the cursor, which moves only past
 * items the socket took: a slow recipient holds at most its socket's buffer and one item, loses
 * nothing, and is never closed for it. Messages never go through the event bus (only ids and
 * names do).
 */
export class InboxPush {
  private readonly streams = new Map<string, Set<Stream>>();
  readonly stats = { subscribers: 0, pushed: 0, reads: 0, failures: 0 };

  constructor(
    private readonly reader: MessageReader,
    hub: Hub,
    private readonly log: Logger,
  ) {
    hub.tap('message.sent', (_id, frame) => this.sent(frame));
    hub.onCloseAll((code, reason) => this.closeAll(code, reason));
  }

  /** A `message.sent` event's frame: wake its recipients' streams. */
  private sent(frame: Buffer): void {
    if (this.streams.size === 0) return;
    let recipients: unknown;
    try {
      recipients = (JSON.parse(frame.toString('utf8')) as { data?: { recipients?: unknown } }).data?.recipients;
    } catch {
      return;
    }
    if (!Array.isArray(recipients)) return;
    for (const r of recipients) {
      const set = typeof r === 'string' ? this.streams.get(r) : undefined;
      if (set) for (const s of set) this.pull(s);
    }
  }

  closeAll(code: number, reason: string): void {
    for (const set of [...this.streams.values()]) for (const s of [...set]) s.ws?.end(code, reason);
  }

  /** Reads and sends what the stream has not had yet, page by page, while its socket takes it. */
  private pull(s: Stream): void {
    if (s.closed || s.out === null) return;
    if (s.pulling) {
      s.again = true;
      return;
    }
    // Past its buffer (a reader that stopped reading): its drain reads on, not a new message.
    if (s.out.full()) return;
    s.pulling = true;
    s.again = false;
    this.stats.reads++;
    let rows;
    try {
      rows = this.reader.inbox(s.recipient, { since: s.cursor, unread: s.unreadOnly, thread: null, limit: INBOX_PUSH_PAGE });
    } catch (err) {
      this.failed(s, err);
      return;
    }
    const done = then(rows, (page) => {
      s.pulling = false;
      const out = s.out;
      if (s.closed || out === null) return;
      // Filled meanwhile? Then the drain reads this page again.
      if (out.full()) return;
      const sent = page.length === 0 ? 0 : out.sendEach(page, inboxItemJson);
      // Only past what the socket took: a frame it refused is read again after the drain.
      if (sent > 0) s.cursor = page[sent - 1]!.id;
      this.stats.pushed += sent;
      // Past its buffer: the drain callback reads on. A full page may have more behind it.
      if (page.length > 0 && out.pushedBack) return;
      if (s.again || page.length === INBOX_PUSH_PAGE) this.pull(s);
    });
    if (pending(done)) done.catch((err: unknown) => this.failed(s, err));
  }

  private failed(s: Stream, err: unknown): void {
    s.pulling = false;
    this.stats.failures++;
    this.log.warn({ err, recipient: s.recipient }, 'reading an inbox for its push stream failed; closing it to resume');
    s.ws?.end(1011, `reading the inbox failed: resume with since=${s.cursor}`);
  }

  private add(s: Stream): void {
    let set = this.streams.get(s.recipient);
    if (!set) this.streams.set(s.recipient, (set = new Set()));
    set.add(s);
    this.stats.subscribers++;
  }

  private remove(s: Stream): void {
    s.closed = true;
    s.ws = null;
    s.out = null;
    const set = this.streams.get(s.recipient);
    if (set?.delete(s)) {
      this.stats.subscribers--;
      if (set.size === 0) this.streams.delete(s.recipient);
    }
  }

  /** Mounts the WebSocket route on a listener (identity required: an inbox is an agent's own). */
  mount(slots: Slots, deps: UpgradeDeps): void {
    const cb: WsCallbacks<StreamData> = {
      open: (ws) => {
        const s = ws.getUserData().stream;
        s.ws = ws;
        s.out = new SocketOutlet(ws);
        this.add(s);
        this.pull(s);
      },
      drain: (ws) => this.pull(ws.getUserData().stream),
      // Client frames are ignored.
      close: (ws) => this.remove(ws.getUserData().stream),
    };
    slots.ws<StreamData>(
      INBOX_SUBSCRIBE_PATH,
      // A stream stops writing past the soft limit, after at most one item: uWS never reaches its own.
      streamSocketOptions(8 * MESSAGE_MAX_BODY_BYTES),
      (res, req, context) =>
        acceptUpgrade(res, req, context, { ...deps, path: INBOX_SUBSCRIBE_PATH }, (u) => {
          const identity = u.ctx.identity;
          if (!identity) throw fail('IDENTITY_REQUIRED', 'an inbox subscription');
          const q = new URLSearchParams(u.ctx.query);
          const since = sinceParam(q.get('since'));
          const unreadOnly = flagParam(q, 'unread');
          const start = (cursor: number) => {
            const stream: Stream = { recipient: identity.instanceId, cursor, unreadOnly, ws: null, out: null, pulling: false, again: false, closed: false };
            u.upgrade<StreamData>({ stream, cb });
          };
          // Live from now: after the newest item the inbox holds. A `since` past it starts there
          // too: no item of this inbox lies between, and after a live restore brought back an
          // older database, new items reuse ids the client has seen (it resumes with its last).
          const newest = this.reader.newest(identity.instanceId);
          const from = (n: number) => start(since === null ? n : Math.min(since, n));
          if (pending(newest)) u.later(newest, from);
          else from(newest);
        }),
    );
  }
}
