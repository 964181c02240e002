import type { Event } from '../../../schemas/rpc/writer.js';
import type { Hub } from '../../bus/hub.js';
import { matcherFor } from '../../bus/glob.js';
import { badRequest } from '../../errors.js';
import { parseIntStrict } from '../../http/router.js';
import type { Logger } from '../../log.js';
import type { WriterClient } from '../../rpc/writer-client.js';
import { toRfc3339, type ReadDb } from '../../store.js';

/** Oldest events deleted per writer call while pruning: keeps each prune turn short. */
export const PRUNE_CHUNK_EVENTS = 2000;
export const DEFAULT_HISTORY_LAST = 50;

/** The Event JSON of SPEC §2.4, built once per event; `data` is spliced in raw. */
export function eventJson(e: Event): string {
  return `{"id":${e.id},"topic":${JSON.stringify(e.topic)},"data":${e.data},"source":${JSON.stringify(e.source)},"created_at":"${toRfc3339(e.created_at)}"}`;
}

interface Filters {
  from: string | null;
  to: string | null;
  source: string | null;
}

export interface HistoryQuery {
  last: number;
  topic: string;
  /** Storage-text bounds (inclusive), already converted from RFC 3339. */
  from: string | null;
  to: string | null;
  source: string | null;
  since: number | null;
}

/** `since` (SPEC §8.2) from a query: null when absent or empty; 400 when not an id. */
export function sinceParam(raw: string | null): number | null {
  if (raw === null || raw === '') return null;
  const since = parseIntStrict(raw);
  if (since === null || since < 0) throw badRequest('since must be a non-negative integer');
  return since;
}

/** RFC 3339 → storage text at UTC seconds; null if unparseable (then the filter is ignored). */
export function rfc3339ToStorage(s: string | null): string | null {
  if (!s || !/^\d{4}-\d\d-\d\d[Tt]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)$/.test(s)) return null;
  const ms = Date.parse(s);
  if (Number.isNaN(ms)) return null;
  return new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
}

/** Event log: durable publish through the writer, history from the read connection, pruning. */
export class EventService {
  private readonly q;
  private pruneTimer: NodeJS.Timeout | null = null;
  private pruning: Promise<number> | null = null;
  /** Highest id handed to the hub. A reply can be lost (deadline, writer death) after COMMIT. */
  private lastFanned: number;

  constructor(
    db: ReadDb,
    private readonly writer: WriterClient,
    private readonly hub: Hub,
    private readonly opts: { retention: number; pruneIntervalMs: number; log: Logger },
  ) {
    this.q = {
      newest: db.prepare<[Filters], Event>(
        `SELECT id, topic, data, source, created_at FROM events
         WHERE (@from IS NULL OR created_at >= @from) AND (@to IS NULL OR created_at <= @to) AND (@source IS NULL OR source = @source)
         ORDER BY id DESC`,
      ),
      after: db.prepare<[Filters & { since: number }], Event>(
        `SELECT id, topic, data, source, created_at FROM events
         WHERE id > @since AND (@from IS NULL OR created_at >= @from) AND (@to IS NULL OR created_at <= @to) AND (@source IS NULL OR source = @source)
         ORDER BY id ASC`,
      ),
      between: db.prepare<[number, number], Event>('SELECT id, topic, data, source, created_at FROM events WHERE id > ? AND id < ? ORDER BY id'),
      oldest: db.prepare<[], number | null>('SELECT min(id) FROM events').pluck(),
      lastId: db.prepare<[], number | null>("SELECT seq FROM sqlite_sequence WHERE name = 'events'").pluck(),
    };
    this.lastFanned = this.lastId();
  }

  /** Stores the event (reply after COMMIT), then fans it out in id order. */
  publish(topic: string, data: string, source: string): Promise<{ event: Event; json: string }> {
    return this.writer.call('events.publish', { topic, data, source }).then((event) => {
      const json = eventJson(event);
      // Committed events whose replies were lost come first, so live subscribers see no gap.
      if (event.id > this.lastFanned + 1) {
        for (const missed of this.q.between.all(this.lastFanned, event.id)) this.hub.publish(missed.id, missed.topic, Buffer.from(eventJson(missed)));
      }
      this.hub.publish(event.id, event.topic, Buffer.from(json));
      if (event.id > this.lastFanned) this.lastFanned = event.id;
      return { event, json };
    });
  }

  /** Up to `last` genuine matches: newest first, or oldest first after `since` (SPEC §7-8, §8.2). */
  history(q: HistoryQuery): string[] {
    const match = matcherFor(q.topic);
    const filters: Filters = { from: q.from, to: q.to, source: q.source };
    const rows = q.since === null ? this.q.newest.iterate(filters) : this.q.after.iterate({ ...filters, since: q.since });
    const out: string[] = [];
    for (const e of rows) {
      if (!match(e.topic)) continue;
      out.push(eventJson(e));
      if (out.length >= q.last) break;
    }
    return out;
  }

  /** Every retained event after `since` matching `pattern`, oldest first, as frames. */
  replay(since: number, pattern: string): Array<{ id: number; frame: Buffer }> {
    const match = matcherFor(pattern);
    const out: Array<{ id: number; frame: Buffer }> = [];
    for (const e of this.q.after.iterate({ since, from: null, to: null, source: null })) {
      if (match(e.topic)) out.push({ id: e.id, frame: Buffer.from(eventJson(e)) });
    }
    return out;
  }

  oldestId(): number | null {
    return this.q.oldest.get() ?? null;
  }

  lastId(): number {
    return this.q.lastId.get() ?? 0;
  }

  /** Deletes all but the newest `retention` events, in short writer turns. */
  prune(): Promise<number> {
    this.pruning ??= (async () => {
      let total = 0;
      try {
        for (;;) {
          const r = await this.writer.call('events.prune', { keep: this.opts.retention, chunk: PRUNE_CHUNK_EVENTS });
          total += r.deleted;
          if (!r.more) break;
        }
        if (total > 0) this.opts.log.debug({ deleted: total }, 'pruned events');
      } catch (err) {
        this.opts.log.warn({ err }, 'event pruning failed; retrying next interval');
      } finally {
        this.pruning = null;
      }
      return total;
    })();
    return this.pruning;
  }

  start(): void {
    this.pruneTimer = setInterval(() => void this.prune(), this.opts.pruneIntervalMs);
    this.pruneTimer.unref();
  }

  stop(): void {
    if (this.pruneTimer) clearInterval(this.pruneTimer);
    this.pruneTimer = null;
  }
}
