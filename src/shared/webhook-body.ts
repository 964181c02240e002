import type { Event } from '../../schemas/rpc/writer-rows.js';

/**
 * The delivery body (docs/operations.md#webhooks) with `event_id` for de-duplication; `data` spliced in as stored
 * (it is JSON text), `created_at` from storage text `YYYY-MM-DD HH:MM:SS` to RFC 3339.
 */
export function deliveryBody(e: Event): string {
  const at = e.created_at.length === 19 ? `${e.created_at.slice(0, 10)}T${e.created_at.slice(11)}Z` : e.created_at;
  return `{"topic":${JSON.stringify(e.topic)},"data":${e.data},"source":${JSON.stringify(e.source)},"event_id":${e.id},"created_at":"${at}"}`;
}
