import { PublishBody } from '../../../schemas/http/events.js';
import { badRequest } from '../../errors.js';
import { send } from '../../http/reply.js';
import { parseIntStrict, queryParams, type Route } from '../../http/router.js';
import { compactJson, rawMember } from '../../http/raw-json.js';
import { DEFAULT_HISTORY_LAST, rfc3339ToStorage, sinceParam, type EventService } from './service.js';

export function eventRoutes(svc: EventService): Route[] {
  return [
    {
      method: 'POST',
      path: '/api/events/publish',
      body: 'json',
      schema: PublishBody,
      handler: async (ctx) => {
        const body = ctx.json as { topic?: string; source?: string };
        if (!body.topic) throw badRequest('topic is required');
        const raw = rawMember(ctx.body.toString('utf8'), 'data');
        const data = raw === undefined ? 'null' : compactJson(raw);
        const source = body.source ?? ctx.identity?.name ?? '';
        const { json } = await svc.publish(body.topic, data, source);
        send(ctx, 200, `${json}\n`, 'application/json');
      },
    },
    {
      method: 'GET',
      path: '/api/events/history',
      handler: (ctx) => {
        const q = queryParams(ctx);
        const last = parseIntStrict(q.get('last') ?? '') ?? 0;
        const rows = svc.history({
          last: last > 0 ? last : DEFAULT_HISTORY_LAST,
          topic: q.get('topic') ?? '',
          from: rfc3339ToStorage(q.get('from')),
          to: rfc3339ToStorage(q.get('to')),
          source: q.has('source') && q.get('source') !== '' ? q.get('source') : null,
          since: sinceParam(q.get('since')),
        });
        send(ctx, 200, `[${rows.join(',')}]\n`, 'application/json');
      },
    },
  ];
}
