import { Type } from '../../typebox.js';
import { Instant } from '../../http/common.js';
import { f, hidden, nullable, record, shown } from '../record.js';

/**
 * A webhook: it reads the event log from a durable cursor (the last event it has had). Its reply,
 * with `has_secret` and `pending` (src/domains/webhooks/service.ts), is every webhook route's.
 */
export const WEBHOOK = record(
  'webhooks',
  {
    id: f.text({ primaryKey: true }),
    url: f.text(),
    /** Globs of the topics it is sent. */
    patterns: f.list(Type.String(), { default: `'["*"]'` }),
    /** Sealed (src/domains/webhooks/secret-box.ts); '' for none. */
    secret: hidden(f.text({ default: "''" })),
    active: f.bool({ default: 1 }),
    created_at: f.time(),
    /** Null until a delivery succeeds; replies show `0001-01-01T00:00:00Z` then, so the type stays an instant. */
    last_fired: shown(nullable(f.time()), Instant),
    fail_count: f.int({ default: 0 }),
    last_error: f.text({ default: "''" }),
    delivered: f.int({ default: 0 }),
    failed: f.int({ default: 0 }),
    cursor: hidden(f.int({ default: 0 })),
    /** Failed attempts at the event after the cursor, and when the next is due (epoch ms). */
    attempts: hidden(f.int({ default: 0 })),
    next_at: hidden(f.int({ default: 0 })),
    dropped: hidden(f.int({ default: 0 })),
  },
  { seq: 'plain' },
);
export const WEBHOOKS = WEBHOOK.table;
/** A webhooks row as the database returns it (`patterns` JSON text, `active` 0 or 1). */
export type WebhookDbRow = Parameters<typeof WEBHOOK.decode>[0];
