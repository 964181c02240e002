import { WEBHOOK_MAX_CONCURRENT, WEBHOOK_MAX_REPLY_BYTES, WEBHOOK_MAX_SOCKETS, WEBHOOK_THREAD_NICE, WEBHOOK_TIMEOUT_MS } from '../../shared/limits-features.js';
import { DeliveryClient } from '../../rpc/delivery-client.js';
import type { Domain, Platform } from '../domain.js';
import { WebhookDispatcher } from './dispatcher.js';
import { webhookRoutes } from './routes.js';
import { loadSecretKey, SecretBox } from './secret-box.js';
import { WebhookService } from './service.js';

/**
 * Webhooks: the registry, and the dispatcher that reads the event log from each
 * webhook's cursor and hands deliveries to the delivery thread. `kick`: an event was published.
 */
export function webhooksDomain(p: Platform): Domain & { dispatcher: WebhookDispatcher; kick(): void } {
  const log = p.log.child({ component: 'webhooks' });
  // Secrets are stored encrypted under a key outside the database.
  const box = new SecretBox(loadSecretKey(p.config));
  const delivery = new DeliveryClient({
    openSecret: (stored) => box.open(stored),
    dbPath: p.backend.deliveryDbPath,
    timeoutMs: WEBHOOK_TIMEOUT_MS,
    maxReplyBytes: WEBHOOK_MAX_REPLY_BYTES,
    maxSockets: WEBHOOK_MAX_SOCKETS,
    nice: WEBHOOK_THREAD_NICE,
    maxInFlight: WEBHOOK_MAX_CONCURRENT + 16,
    log,
  });
  const dispatcher = new WebhookDispatcher(p.readers.webhooks, p.writer, delivery, {
    retryBaseMs: p.config.webhookRetryBaseMs,
    retryMaxMs: p.config.webhookRetryMaxMs,
    maxAttempts: p.config.webhookMaxAttempts,
    // No data file for the delivery thread to read (cluster mode): the dispatcher hands it the bodies.
    handBodies: p.backend.deliveryDbPath === '',
    log,
  });
  const webhooks = new WebhookService(p.readers.webhooks, p.writer, delivery, box, () => dispatcher.refresh());
  return {
    dispatcher,
    kick: () => dispatcher.kick(),
    routes: webhookRoutes(webhooks),
    // Secrets an older server stored in plain text are sealed once the server is up.
    start: () =>
      void webhooks.sealStored().then(
        ({ sealed, left }) => {
          if (sealed > 0) log.info({ webhooks: sealed }, 'webhook secrets stored in plain text by an older server are now encrypted');
          if (left > 0) log.warn({ webhooks: left }, 'webhook secrets are stored in plain text: give every node the same --secret-key-file to encrypt them');
        },
        (err: unknown) => log.warn({ err }, 'encrypting the webhook secrets stored in plain text failed'),
      ),
    jobs: [dispatcher],
    metrics(m) {
      const s = dispatcher.stats;
      m.labeled('koor_webhook_deliveries_total', 'Webhook delivery attempts settled, by outcome.', 'counter', () => [
        { labels: { outcome: 'delivered' }, value: s.delivered },
        { labels: { outcome: 'failed' }, value: s.failed },
        { labels: { outcome: 'dropped' }, value: s.dropped },
      ]);
      m.counter('koor_webhooks_disabled_total', 'Webhooks disabled after consecutive failures.', () => s.disabled);
      m.gauge('koor_webhook_pending_events', 'Events the active webhooks have yet to receive (matching, after their cursors).', () => dispatcher.depth());
    },
    // The dispatcher is a job (stopped with the jobs); the delivery thread goes after it.
    close: () => delivery.close(),
  };
}
