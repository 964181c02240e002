import type { Event } from '../../../schemas/rpc/writer.js';
import type { Domain, Platform } from '../domain.js';
import { eventRoutes, subscribeSocket } from './routes.js';
import { EventService } from './service.js';

/**
 * The event log (SPEC §2.4): publish, history, and delivery to this node's subscribers through
 * the backend's fan-out. `onPublished`: an event was committed (the webhook dispatcher looks).
 */
export async function eventsDomain(p: Platform, d: { onPublished: () => void }): Promise<Domain & { events: EventService; publish: (topic: string, data: string, source: string) => Promise<unknown>; announce: (list: readonly Event[]) => void; resetFeed(): void }> {
  const log = p.log.child({ component: 'events' });
  const fanout = await p.backend.fanout(p.readers, p.hub, { log, onPublished: d.onPublished });
  const events = new EventService(p.readers.events, p.writer, fanout, { retention: p.config.eventRetention, log, onPublished: d.onPublished });
  return {
    events,
    publish: (topic, data, source) => events.publish(topic, data, source),
    announce: (list) => events.announce(list),
    resetFeed: () => fanout.reset?.(),
    routes: eventRoutes(events, { scan: p.config.eventHistoryScan }),
    sockets: [subscribeSocket({ hub: p.hub, events, maxBytes: p.config.wsBufferBytes })],
    metrics: (m) => m.gauge('koor_last_event_id', 'Id of the newest event (0 if none).', () => events.lastId()),
    close: () => fanout.stop?.(),
  };
}
