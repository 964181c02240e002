import type { Domain, Platform } from '../domain.js';
import { eventRoutes, subscribeSocket } from './routes.js';
import { FANOUT_SWEEP_MS, STARTUP_TIMEOUT_MS } from '../../shared/limits.js';
import { within } from '../../within.js';
import { EventFeed } from './feed.js';
import { EventService, LocalFanout, type Fanout } from './service.js';

/**
 * The event log: publish, history, and delivery to this node's subscribers through
 * the backend's fan-out. `onPublished`: an event was committed (the webhook dispatcher looks).
 */
export async function eventsDomain(p: Platform, d: { onPublished: () => void }): Promise<Domain & { events: EventService; publish: (topic: string, data: string, source: string) => Promise<unknown>; resetFeed(): void }> {
  const log = p.log.child({ component: 'events' });
  // How committed events reach this node's subscribers: the backend says which of the two it needs.
  const fanout = await p.backend.fanout<Fanout & { stop?(): Promise<void>; reset?(): void }>({
    local: () => {
      if (!p.readers.syncEvents) throw new Error('a local fan-out needs the synchronous event reader of SQLite');
      const local = new LocalFanout(p.readers.syncEvents, p.hub);
      local.start(FANOUT_SWEEP_MS);
      return local;
    },
    feed: async (sql) => {
      const feed = new EventFeed(sql, p.readers.events, p.hub, { log, onPublished: d.onPublished });
      await within(feed.start(), STARTUP_TIMEOUT_MS, 'listening for events');
      return feed;
    },
  });
  const events = new EventService(p.readers.events, p.writer, fanout, { retention: p.config.eventRetention, log, onPublished: d.onPublished });
  // What any write stored in its transaction goes out from the writer's reply path, once.
  p.writer.onCommitted((list) => events.announce(list));
  return {
    events,
    publish: (topic, data, source) => events.publish(topic, data, source),
    resetFeed: () => fanout.reset?.(),
    routes: eventRoutes(events, { scan: p.config.eventHistoryScan }),
    sockets: [subscribeSocket({ hub: p.hub, events, maxBytes: p.config.wsBufferBytes })],
    metrics: (m) => m.gauge('koor_last_event_id', 'Id of the newest event (0 if none).', () => events.lastId()),
    close: () => fanout.stop?.(),
  };
}
