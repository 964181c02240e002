import type { Hub } from '../../bus/hub.js';
import type { WriterClient } from '../../rpc/writer-client.js';
import { HOOK_SESSIONS_REMEMBERED } from '../../shared/limits-features.js';
import { isDigestTopic } from './reader.js';

/**
 * Writer methods that may store an audit entry a digest reports (reader.ts, DIGEST_AUDIT_ACTIONS),
 * and the pruning of events, which a digest reports when a session had not read them.
 */
const NEWS_METHODS = ['specs.put', 'specs.delete', 'rules.decide', 'instances.register', 'hooks.bind', 'events.prune'] as const;

/** Where the clock stood for an agent when a digest read the news (see NewsClock.since). */
export interface NewsMark {
  /** The newest event of a digest's topics seen here. */
  event: number;
  /** The audit epoch (-1: read it again whatever it is). */
  epoch: number;
  /** The newest message to the agent seen here (-1: read its inbox again). */
  message: number;
}

/**
 * What a node knows of the news a digest reads without reading the database: the newest event
 * of a digest's topics (every event reaches the hub), the newest message sent to each agent
 * (`message.sent` names its recipients), and an epoch that moves with each write that may store an audit entry a digest reports (spec
 * changes, rules accepted, agents joining), with each pruning of events, and with every write
 * whose outcome is unknown. A session whose digest read up to a mark the clock has not passed
 * has no news: its hook answers without reading. Each part moves before the write it follows is
 * acknowledged, so a hook after an acknowledged write always reads it — where every write passes
 * through this node (one writer: SQLite). A cluster's node learns of the others' writes later
 * (the event feed) or not at all (audit entries): there, hooks read.
 */
export class NewsClock {
  private event = 0;
  private epoch = 0;
  private readonly inbox = new Map<string, number>();
  /** The newest message id of the recipients forgotten when the map was full. */
  private inboxFloor = 0;

  /** Told of every event the hub publishes and of the writes that move the epoch. */
  listen(hub: Hub, writer: WriterClient): this {
    hub.tapAll((id, topic, frame) => this.published(id, topic, frame));
    writer.onWrite(NEWS_METHODS, () => this.moved());
    writer.onUncertain(() => this.moved());
    return this;
  }

  /** An event published here (its id, topic and JSON frame). */
  published(id: number, topic: string, frame: Buffer): void {
    if (isDigestTopic(topic)) this.event = Math.max(this.event, id);
    else if (topic === 'message.sent') this.sent(frame);
  }

  /** A write that may have stored news no event tells of (an audit entry, a pruning), or one whose outcome is unknown. */
  moved(): void {
    this.epoch++;
  }

  /** Events stored before this node started (not published here): each may be of a digest's topics. */
  seen(newestEvent: number): void {
    this.event = Math.max(this.event, newestEvent);
  }

  /** The newest event of a digest's topics seen here (or stored before it started). */
  newestDigestEvent(): number {
    return this.event;
  }

  /** Where the clock stands for `agent`. */
  mark(agent: string): NewsMark {
    return { event: this.event, epoch: this.epoch, message: this.inbox.get(agent) ?? this.inboxFloor };
  }

  /** Whether news may have come for `agent` since `m`. */
  since(m: NewsMark, agent: string): boolean {
    return this.event > m.event || this.epoch !== m.epoch || (this.inbox.get(agent) ?? this.inboxFloor) > m.message;
  }

  /** A `message.sent` event's frame (one it cannot read: every agent may have news). */
  private sent(frame: Buffer): void {
    let id: unknown;
    let recipients: unknown;
    try {
      ({ id, recipients } = (JSON.parse(frame.toString('utf8')) as { data?: { id?: unknown; recipients?: unknown } }).data ?? {});
    } catch {
      // below
    }
    if (typeof id !== 'number' || !Array.isArray(recipients)) {
      this.moved();
      return;
    }
    for (const r of recipients as string[]) {
      if (this.inbox.size >= HOOK_SESSIONS_REMEMBERED && !this.inbox.has(r)) {
        for (const v of this.inbox.values()) this.inboxFloor = Math.max(this.inboxFloor, v);
        this.inbox.clear();
      }
      this.inbox.set(r, Math.max(this.inbox.get(r) ?? 0, id));
    }
  }
}
