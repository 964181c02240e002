import type { Domain, Platform } from '../domain.js';
import { STATE_CHANGES_KEEP, STATE_CHANGES_PRUNE_CHUNK, STATE_CHANGES_PRUNE_MS, STATE_EXPIRY_CHECK_MS, STATE_EXPIRY_CHUNK } from '../../shared/limits.js';
import type { Job } from '../../cluster/node.js';
import type { WriterClient } from '../../rpc/writer-client.js';
import type { Logger } from '../../log.js';
import { Periodic } from '../../shared/periodic.js';
import type { Awaitable } from '../../shared/awaitable.js';
import { stateRoutes, txnRoutes, watchRoutes } from './routes.js';
import { StateService } from './service.js';
import { ChangeFeed } from './watch.js';
import { dataNow } from '../../../schemas/db/time.js';

/**
 * The state store: values with versions, history and rollback; a read cache where one
 * writer is behind it; revisions, watches, expiring and agent-bound keys.
 */
export function stateDomain(p: Platform): Domain & { state: StateService; feed: ChangeFeed } {
  const log = p.log.child({ component: 'state' });
  const state = new StateService(p.readers.state, p.writer, p.pool, p.config.cacheBytes, p.backend.othersWrite);
  const feed = new ChangeFeed(p.readers.state, { maxEvents: p.config.wsBufferEvents, maxBytes: p.config.wsBufferBytes }, log);
  const started = feed.start(p.backend).catch((err: unknown) => log.error({ err }, 'starting the state change feed failed'));
  state.onChange = () => feed.poke();
  // Shutdown, restart, a restore: watchers close with the event subscribers, and resume alike.
  p.hub.onCloseAll((code, reason) => {
    feed.closeAll(code, reason);
    feed.forget();
  });
  const jobs = new StateJobs(p.writer, (now) => p.readers.state.due(now), () => p.readers.state.newestRevision(), () => feed.poke(), log);
  const deps = { feed, maxBytes: p.config.wsBufferBytes };
  return {
    state,
    feed,
    routes: stateRoutes(state),
    jobs: [jobs],
    sockets: watchRoutes(deps),
    metrics(m) {
      m.gauge('koor_state_keys', 'State keys stored.', () => state.count());
      m.counter('koor_state_cache_hits_total', 'State reads answered from the front cache.', () => state.cache.stats.hits);
      m.counter('koor_state_cache_misses_total', 'State reads that went to the database.', () => state.cache.stats.misses);
      m.gauge('koor_state_cache_bytes', 'Bytes held by the state cache.', () => state.cache.usedBytes);
      m.gauge('koor_state_watchers', 'Open state and spec watches on this node.', () => feed.watchers());
      m.gauge('koor_state_revision', 'The newest state or spec revision (0 before the first change).', () => p.readers.state.newestRevision());
      m.counter('koor_state_expired_total', 'State keys deleted past their TTL by the sweep (this node, when it runs the jobs).', () => jobs.stats.expired);
    },
    async close() {
      await started;
      await feed.stop();
    },
  };
}

/**
 * The state store's background jobs (once per deployment): keys past their TTL deleted each
 * second with their `expire` changes; the change log kept to its newest STATE_CHANGES_KEEP, cut
 * only when it grew since (an idle server writes nothing).
 */
class StateJobs implements Job {
  private readonly timer: Periodic;
  private lastPrune = 0;
  /** The newest revision when the change log was last cut (0: a store with no change yet needs none). */
  private prunedAt = 0;
  readonly stats = { expired: 0, changes_pruned: 0 };

  constructor(
    private readonly writer: WriterClient,
    /** Whether some key's TTL has run out: the writer is called only then (an idle server writes nothing). */
    private readonly due: (now: number) => Awaitable<boolean>,
    private readonly revision: () => Awaitable<number>,
    private readonly changed: () => void,
    private readonly log: Logger,
  ) {
    this.timer = new Periodic(() => this.pass(), { everyMs: STATE_EXPIRY_CHECK_MS, name: 'state expiry', log });
  }

  start(): void {
    this.timer.start();
  }

  /** Resolves once the pass in flight (if any) is over. */
  stop(): Promise<void> {
    return this.timer.stop();
  }

  private async pass(): Promise<void> {
    try {
      for (let turn = 0; turn < 16 && (turn > 0 || (await this.due(dataNow()))); turn++) {
        const r = await this.writer.call('state.expire', { limit: STATE_EXPIRY_CHUNK });
        this.stats.expired += r.expired;
        if (r.expired > 0) this.changed();
        if (!r.more) break;
      }
      if (Date.now() - this.lastPrune >= STATE_CHANGES_PRUNE_MS) {
        this.lastPrune = Date.now();
        const revision = await this.revision();
        if (revision !== this.prunedAt) {
          for (let turn = 0; turn < 16; turn++) {
            const r = await this.writer.call('state.prune_changes', { keep: STATE_CHANGES_KEEP, chunk: STATE_CHANGES_PRUNE_CHUNK });
            this.stats.changes_pruned += r.deleted;
            // Cut to its size: the next pass cuts again only after a change.
            if (!r.more) {
              this.prunedAt = revision;
              break;
            }
          }
        }
      }
    } catch (err) {
      this.log.warn({ err }, 'state expiry or change pruning failed; retrying next interval');
    }
  }
}

/** POST /api/txn, mounted after the event log: a publish op's event is fanned out through it. */
export function txnDomain(d: { state: StateService }): Domain {
  return { routes: txnRoutes(d) };
}
