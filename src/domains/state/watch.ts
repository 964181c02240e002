import { STATE_CHANGES_CHANNEL } from '../../../schemas/rpc/cluster.js';
import { then, type Awaitable } from '../../shared/awaitable.js';
import type { Backend } from '../../backend/backend.js';
import { LogTail } from '../../bus/log-tail.js';
import { CLOSE_SLOW_CONSUMER, Hub, type HubLimits, type ReplayStep, type Subscriber } from '../../bus/hub.js';
import { fail } from '../../errors.js';
import { checkName } from '../../names.js';
import { parseIntStrict } from '../../http/query.js';
import type { Slots, WsCallbacks } from '../../http/slots.js';
import type { Logger } from '../../log.js';
import { EVENT_FEED_POLL_MS, EVENT_FEED_RETRY_MS, WS_REPLAY_STEP_IDS } from '../../shared/limits.js';
import { SocketOutlet } from '../../ws/outlet.js';
import { resumeFrom, slowConsumerLogger, streamSocketOptions } from '../../ws/subscribe.js';
import { acceptUpgrade, type UpgradeDeps } from '../../ws/upgrade.js';
import type { ChangeRow, StateReader } from './reader.js';
import { RESTORE_MARK_TYPE } from '../../../schemas/db/tables/state.js';
import { WATCH_FEED_PAGE, WATCH_VALUE_MAX_BYTES } from '../../shared/limits-features.js';
import { withMembers } from '../../raw-json.js';

export const STATE_WATCH_PATH = '/api/state/watch';
export const SPECS_WATCH_PATH = '/api/specs/watch';

/**
 * A change as a watcher reads it: state `{"type","key","version","revision","hash",
 * "content_type","updated_by"}`, specs `{"type","project","name","version","revision","hash"}`.
 */
function changeJson(c: ChangeRow): string {
  if (c.topic.startsWith('p:')) {
    const rest = c.topic.slice(2);
    const slash = rest.indexOf('/');
    return JSON.stringify({ type: c.type, project: rest.slice(0, slash), name: rest.slice(slash + 1), version: c.version, revision: c.id, hash: c.hash });
  }
  return JSON.stringify({ type: c.type, key: c.topic.slice(2), version: c.version, revision: c.id, hash: c.hash, content_type: c.content_type, updated_by: c.updated_by });
}

/** The frame of a state change with its value (`&values=1`), when the version is still kept. */
function withValue(c: ChangeRow, row: { value: Uint8Array; content_type: string } | undefined): string {
  const json = changeJson(c);
  if (c.type !== 'put' || !row) return json;
  if (row.value.byteLength > WATCH_VALUE_MAX_BYTES) return withMembers(json, '"value_omitted":"too large"');
  const text = Buffer.from(row.value).toString('utf8');
  let value = JSON.stringify(text);
  if (/json/i.test(row.content_type)) {
    try {
      value = JSON.stringify(JSON.parse(text));
    } catch {
      // stored as JSON but not JSON: its text
    }
  }
  return withMembers(json, `"value":${value}`);
}

/** A watcher's pattern matches the change topics that start with it (`s:<prefix>` or `p:<project>/`). */
const prefixMatcher = (pattern: string) => (topic: string) => topic.startsWith(pattern);

/**
 * The change log to this node's watchers, in revision order, on both backends: read after the
 * last revision fanned out whenever this node's writes commit, when PostgreSQL notifies another
 * node's commit, and once a second while anyone watches (a sweep of expired or agent-bound keys
 * tells no one). With no watcher it only remembers the newest revision — a write pays nothing
 * for a watcher that is not there.
 */
export class ChangeFeed {
  readonly hub: Hub;
  /** Watchers that asked for values (`&values=1`): their frames carry the value, read only for them. */
  readonly valuesHub: Hub;
  private gaps = 0;
  private fanned = 0;
  private unlisten: (() => Promise<void>) | null = null;
  private readonly tail: LogTail<ChangeRow>;

  constructor(
    private readonly reader: StateReader,
    limits: HubLimits,
    private readonly log: Logger,
  ) {
    this.hub = new Hub(limits, slowConsumerLogger(log), prefixMatcher);
    this.valuesHub = new Hub(limits, slowConsumerLogger(log), prefixMatcher);
    this.tail = new LogTail<ChangeRow>({
      what: 'the state change log',
      log,
      pollMs: EVENT_FEED_POLL_MS,
      retryMs: EVENT_FEED_RETRY_MS,
      // Nobody watches: nothing to read (the first watcher learns the newest revision itself, sync()).
      idle: () => this.watchers() === 0,
      batchTurn: true,
      prepare: () => {
        if (this.watchers() > 0) return true;
        return Promise.resolve(this.reader.newestRevision()).then((n) => {
          // A watcher that arrived during the read may need what came before `n`: read as usual then.
          if (this.watchers() > 0) return true;
          if (n > this.tail.last) this.tail.last = n;
          return false;
        });
      },
      read: (after) => Promise.resolve(this.reader.changes(after, Number.MAX_SAFE_INTEGER, WATCH_FEED_PAGE)),
      gap: (after, next) => {
        // Pruned before this node read them: watchers would miss them unknowingly.
        this.gaps++;
        this.log.warn({ after, next }, 'state changes pruned before this node fanned them out; closing watchers so they resume');
        this.closeAll(CLOSE_SLOW_CONSUMER, `node fell behind the change log: resume with since_revision=${after}`);
      },
      deliver: (c) => {
        // No watcher of this key: no frame (a catching-up watcher reads the log itself).
        if (this.hub.wants(c.topic)) {
          this.hub.publish(c.id, c.topic, Buffer.from(changeJson(c)));
          this.fanned++;
        }
        if (!this.valuesHub.wants(c.topic)) return;
        return then(this.valueFrame(c), (frame) => {
          this.valuesHub.publish(c.id, c.topic, Buffer.from(frame));
          this.fanned++;
        });
      },
      more: (page) => page.length === WATCH_FEED_PAGE,
    });
  }

  get stats(): { reads: number; failures: number; gaps: number; fanned: number } {
    return { ...this.tail.stats, gaps: this.gaps, fanned: this.fanned };
  }

  /** Open watches, with values or not. */
  watchers(): number {
    return this.hub.stats.subscribers + this.valuesHub.stats.subscribers;
  }

  closeAll(code: number, reason: string): void {
    this.hub.closeAll(code, reason);
    this.valuesHub.closeAll(code, reason);
  }

  /**
   * Every watcher was closed by the server (a restart, a restore from a backup): the next one
   * learns the newest revision anew (sync()), which a restored log may have below this node's.
   */
  forget(): void {
    if (this.watchers() === 0) this.tail.last = 0;
  }

  /** A state change's frame with its value, when that version is still kept (specs: without). */
  private valueFrame(c: ChangeRow): Awaitable<string> {
    if (c.type !== 'put' || !c.topic.startsWith('s:')) return changeJson(c);
    return then(this.reader.atVersion(c.topic.slice(2), c.version), (row) => withValue(c, row));
  }

  async start(backend: Backend): Promise<void> {
    const newest = await this.reader.newestRevision();
    // Set before listening: a notification pokes a read.
    this.tail.last = newest;
    this.unlisten = await backend.listen(STATE_CHANGES_CHANNEL, () => this.poke());
    // Once a second while anyone watches: a sweep of expired or agent-bound keys tells no one.
    this.tail.start(newest);
  }

  async stop(): Promise<void> {
    this.tail.stop();
    await this.unlisten?.();
  }

  /** The newest revision live delivery has reached. */
  lastId(): number {
    return this.tail.last;
  }

  /**
   * Where a new watcher's live delivery starts: with no watcher, the feed has only been
   * skipping ahead, so it first learns the newest revision.
   */
  sync(): Awaitable<number> {
    if (this.watchers() > 0) return this.tail.last;
    return then(this.reader.newestRevision(), (n) => {
      if (this.watchers() === 0 && n > this.tail.last) this.tail.last = n;
      return this.tail.last;
    });
  }

  /** Reads the log at the end of this turn (once for every write of the turn), or once the read under way is over. */
  poke(): void {
    this.tail.poke();
  }

  /**
   * One step of a watcher's catch-up: its changes with revisions in (after, after + step], as
   * frames. Revisions are gapless (but for a restore's mark), so a first row other than `after + 1`
   * means the changes after the cursor were pruned (`gap`): the watcher is closed with 4008 and re-reads.
   */
  replayStep(after: number, pattern: string, values = false): Awaitable<ReplayStep> {
    const last = this.tail.last;
    if (after >= last) return { items: [], next: after, done: true, gap: false };
    // With values a step holds at most a few values' worth: each may be up to WATCH_VALUE_MAX_BYTES.
    const limit = values ? 32 : WS_REPLAY_STEP_IDS;
    // Read up to the newest, `limit` rows: a restore mark may lie past a step's worth of ids.
    return then(this.reader.changes(after, last, limit), (rows): Awaitable<ReplayStep> => {
      // A restore mark's revisions before it name no change (RESTORE_MARK): not a gap.
      const first = rows[0];
      if (first === undefined || (first.id !== after + 1 && !(first.type === RESTORE_MARK_TYPE && first.version <= after))) return { items: [], next: after, done: false, gap: true };
      const upto = rows.length === limit ? rows[rows.length - 1]!.id : last;
      const mine = rows.filter((c) => c.topic.startsWith(pattern));
      const finish = (frames: string[]): ReplayStep => ({ items: mine.map((c, i) => ({ id: c.id, frame: Buffer.from(frames[i]!) })), next: upto, done: upto >= this.tail.last, gap: false });
      if (!values) return finish(mine.map(changeJson));
      const frames = mine.map((c) => this.valueFrame(c));
      return frames.some((f) => f instanceof Promise) ? Promise.all(frames).then(finish) : finish(frames as string[]);
    });
  }

  /**
   * The change log's bounds as committed now: the oldest revision kept (null: none) and the
   * newest. In cluster mode the newest may be ahead of lastId(): another node committed it and
   * this node's feed has yet to read it.
   */
  bounds(): Awaitable<{ oldest: number | null; newest: number }> {
    return this.reader.logBounds();
  }
}

interface WatchData {
  sub: Subscriber;
  values: boolean;
  cb: WsCallbacks<WatchData>;
}

/** `since_revision`: a non-negative integer, or absent. */
function revisionParam(raw: string | null): number | null {
  if (raw === null || raw === '') return null;
  const n = parseIntStrict(raw);
  if (n === null || n < 0) throw fail('REVISION_INVALID', 'since_revision');
  return n;
}

/**
 * `GET /api/state/watch?prefix=P&since_revision=R` and `GET /api/specs/watch?project=P&since_revision=R`:
 * every retained change after R, then live ones, no gap and no duplicate (the hub's
 * replay, as event subscriptions have it). R older than what is retained: the upgrade says
 * `X-Koor-Oldest-Revision` and the watch starts at the oldest kept change (the client re-reads).
 */
export function mountWatch(slots: Slots, deps: UpgradeDeps & { feed: ChangeFeed; maxBytes: number }, path: string): void {
  const { feed, log } = deps;
  const hubOf = (d: WatchData) => (d.values ? feed.valuesHub : feed.hub);
  const cb: WsCallbacks<WatchData> = {
    open: (ws) => {
      const d = ws.getUserData();
      const { sub, values } = d;
      const hub = hubOf(d);
      const out = new SocketOutlet(ws);
      try {
        hub.attach(sub, out, (after) => feed.replayStep(after, sub.pattern, values), sub.since ?? 0);
      } catch (err) {
        log.error({ err }, 'failed to open watch');
        hub.close(sub, 'open_failed', 'failed to open watch', out);
      }
    },
    drain: (ws) => hubOf(ws.getUserData()).flushOne(ws.getUserData().sub),
    close: (ws) => hubOf(ws.getUserData()).detach(ws.getUserData().sub),
  };
  slots.ws<WatchData>(
    path,
    streamSocketOptions(deps.maxBytes),
    (res, req, context) =>
      acceptUpgrade(res, req, context, { ...deps, path }, (u) => {
        const q = new URLSearchParams(u.ctx.query);
        let pattern: string;
        if (path === SPECS_WATCH_PATH) {
          const project = q.get('project') ?? '';
          if (project === '') throw fail('FIELD_REQUIRED', 'project');
          pattern = `p:${checkName(project, 'project')}/`;
        } else {
          const prefix = q.get('prefix') ?? '';
          if (prefix !== '') checkName(prefix, 'prefix');
          pattern = `s:${prefix}`;
        }
        const requested = revisionParam(q.get('since_revision'));
        const rawValues = q.get('values') ?? '';
        if (rawValues !== '' && rawValues !== '0' && rawValues !== '1' && rawValues !== 'true' && rawValues !== 'false') throw fail('VALUES_INVALID', rawValues);
        const values = rawValues === '1' || rawValues === 'true';
        const hub = values ? feed.valuesHub : feed.hub;
        const upgrade = (last: number, oldest: number | null) => {
          // Without since_revision: live changes from the newest on.
          const from = requested === null ? { since: last, pruned: null } : resumeFrom(requested, last, oldest);
          const sub = hub.create(pattern, 'close', from.since);
          u.upgrade<WatchData>({ sub, values, cb }, from.pruned === null ? [['X-Koor-Revision', String(last)]] : [['X-Koor-Revision', String(last)], ['X-Koor-Oldest-Revision', String(from.pruned)]]);
        };
        // since_revision is clamped to the newest committed revision, not to what this node's feed
        // has reached: in cluster mode a change another node committed may not have been fanned
        // out here yet, and a watcher must not get again a change it said it had (nor one from
        // before the revision it named, as live). Without it, live delivery starts where the feed is.
        const at = then(feed.sync(), (last) => (requested === null ? { last, oldest: null } : then(feed.bounds(), (b) => ({ last: b.newest, oldest: b.oldest }))));
        if (at instanceof Promise) u.later(at, (b) => upgrade(b.last, b.oldest));
        else upgrade(at.last, at.oldest);
      }),
  );
}
