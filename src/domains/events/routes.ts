import { EventListReply, EventReply, PublishBody } from '../../../schemas/http/events.js';
import { fail } from '../../errors.js';
import { sendJsonText, type HeaderList } from '../../http/reply.js';
import type { Route } from '../../http/route.js';
import { globParam, instantParam, positiveInt, queryParams, sinceParam } from '../../http/query.js';
import { compactJson, rawMember } from '../../raw-json.js';
import { EVENTS_HISTORY_DEFAULT_LAST, EVENTS_HISTORY_MAX_LAST } from '../../shared/limits.js';
import type { EventService } from './service.js';
import { idemTag, REPLAYED } from '../../http/idempotency.js';
import { rule, topicBody, topicQuery } from '../../http/permissions.js';
import type { SocketRoute } from '../domain.js';
import type { Hub } from '../../bus/hub.js';
import { mountSubscribe, SUBSCRIBE_PATH } from './subscribe.js';
import { PositiveInt, Query } from '../../../schemas/http/common.js';

/** The reply stopped short of `last` with more of the log left: why, and where to go on from. */
function continuation(truncated: 'bytes' | 'scan' | null, next: number | null, oldestFirst: boolean): HeaderList | undefined {
  if (truncated === null || next === null) return undefined;
  return [
    ['X-Koor-Truncated', truncated],
    ['X-Koor-Next', `${oldestFirst ? 'since' : 'before'}=${next}`],
  ];
}

/** Event subscriptions (src/ws/subscribe.ts): a WebSocket route. */
export function subscribeSocket(deps: { hub: Hub; events: EventService; maxBytes: number }): SocketRoute {
  return {
    method: 'GET',
    path: SUBSCRIBE_PATH,
    summary: 'Subscribe to events (WebSocket)',
    rule: rule('read', 'subscribe to events', topicQuery('pattern')),
    query: Query({
      pattern: 'The topics to receive, a glob (* within a segment); default *',
      since: 'Replay the retained events after this id first',
      overflow: 'close (default) or drop: what a subscriber too slow to keep up gets',
    }),
    mount: (slots, d) => mountSubscribe(slots, { ...d, ...deps }),
  };
}

export function eventRoutes(svc: EventService, opts: { scan: number }): Route[] {
  return [
    {
      method: 'POST',
      path: '/api/events/publish',
      summary: 'Publish an event',
      rule: rule('write', 'publish events', topicBody),
      replies: { 200: EventReply },
      body: 'json',
      schema: PublishBody,
      handler: async (ctx) => {
        const body = ctx.json as { topic?: string; source?: string };
        if (!body.topic) throw fail('FIELD_REQUIRED', 'topic');
        const raw = rawMember(ctx.text, 'data');
        const data = raw === undefined ? 'null' : compactJson(raw);
        const source = body.source ?? ctx.identity?.name ?? '';
        const idem = idemTag(ctx, { topic: body.topic, data, source });
        const { json, replayed } = idem === null ? { ...(await svc.publish(body.topic, data, source)), replayed: false } : await svc.publishIdempotent(body.topic, data, source, idem);
        if (!replayed) ctx.tally?.('events_published');
        sendJsonText(ctx, 200, json, replayed ? REPLAYED : undefined);
      },
    },
    {
      method: 'GET',
      path: '/api/events/history',
      summary: 'Read the event log',
      rule: rule('read', 'read event history', topicQuery('topic')),
      replies: { 200: EventListReply },
      query: Query({ last: PositiveInt('How many events (newest first unless since is given)'), topic: 'Only the topics matching this glob', from: 'Events at or after this instant', to: 'Events before this instant', source: 'Only the events of this source', since: 'Events after this id, oldest first', before: 'Events before this id (the X-Koor-Next of a reply cut short)' }),
      handler: async (ctx) => {
        const q = queryParams(ctx);
        // Strict: a value the server cannot use is a 400 naming it.
        const since = sinceParam(q.get('since'));
        const { events, truncated, next } = await svc.history({
          last: positiveInt(q, 'last', EVENTS_HISTORY_DEFAULT_LAST, EVENTS_HISTORY_MAX_LAST),
          topic: globParam(q, 'topic', ''),
          from: instantParam(q, 'from'),
          to: instantParam(q, 'to'),
          source: q.has('source') && q.get('source') !== '' ? q.get('source') : null,
          since,
          // Ignored after since= (oldest first): the cursor of that direction is since= itself.
          before: since === null ? positiveInt(q, 'before', 0, Number.MAX_SAFE_INTEGER) || null : null,
          scan: opts.scan,
        });
        // Cut short (by the byte budget, or by the window of ids one read examines): say so and
        // name the cursor; the client repeats the request with it (X-Koor-Next) to go on.
        sendJsonText(ctx, 200, `[${events.join(',')}]`, continuation(truncated, next, since !== null));
      },
    },
  ];
}
