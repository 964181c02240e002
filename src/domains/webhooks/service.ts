import type { AuditTag, IdemTag } from '../../../schemas/rpc/envelope.js';
import { isValidGlob } from '../../shared/glob.js';
import { fail } from '../../errors.js';
import { checkName } from '../../names.js';
import type { WriterClient } from '../../rpc/writer-client.js';
import { WEBHOOK } from '../../../schemas/db/tables/webhooks.js';
import type { Webhook } from '../../../schemas/http/webhooks.js';
import type { Static } from '../../../schemas/typebox.js';
import type { DeliveryClient } from '../../rpc/delivery-client.js';
import { Backlog } from './backlog.js';
import { SecretBox } from './secret-box.js';
import type { WebhookReader } from './reader.js';

/**
 * `last_fired` before a first success, as storage text: replies show `0001-01-01T00:00:00Z` (Go's
 * zero time, as the original did), so the member is always an instant. Mapped here rather than
 * declared with the record: this reply adds to the record's anyway (`has_secret`, `pending`).
 */
const NEVER = '0001-01-01 00:00:00';

/** The Webhook: the record's reply, `has_secret` for its secret, and `pending` (matching events after its cursor). */
const view = (r: Static<typeof WEBHOOK.Row>, pending: number): Webhook => ({
  ...WEBHOOK.wire({ ...r, last_fired: r.last_fired ?? NEVER }),
  has_secret: r.secret !== '',
  pending,
});

/** Webhook registry: writes through the writer, reads from its reader; delivery in dispatcher.ts. */
export class WebhookService {
  private readonly log: Backlog;

  constructor(
    private readonly reader: WebhookReader,
    private readonly writer: WriterClient,
    private readonly delivery: DeliveryClient,
    /** Seals secrets before they are stored; the delivery client opens them. */
    private readonly box: SecretBox,
    /** Called once a webhook was created or deleted (the dispatcher looks again). */
    private readonly onChange: () => void = () => {},
  ) {
    this.log = new Backlog(reader);
  }

  async list(): Promise<Webhook[]> {
    const newest = await this.log.newest();
    const rows = await this.reader.list();
    // `pending`: the events an active webhook has yet to receive (matching, after its cursor).
    return Promise.all(rows.map(async (r) => view(WEBHOOK.decode(r), r.active === 1 ? await this.log.pending(r.patterns, r.cursor, newest) : 0)));
  }

  /** `replayed`: an idempotent retry answered with the first write's result (the request, hence the secret, is the same). */
  async create(input: { id: string; url: string; patterns: string[]; secret: string }, audit: AuditTag, idem: IdemTag | null = null): Promise<{ webhook: Webhook; replayed: boolean }> {
    checkName(input.id, 'id');
    for (const p of input.patterns) if (!isValidGlob(p)) throw fail('INVALID_PATTERN', p);
    const patterns = input.patterns.length === 0 ? ['*'] : input.patterns;
    const { res: r, replayed } = await this.writer.callIdempotent('webhooks.create', { ...input, patterns, secret: this.box.seal(input.secret) }, idem, { audit });
    if (!replayed) this.onChange();
    const webhook = view({ id: input.id, url: input.url, patterns, secret: input.secret, active: true, created_at: r.created_at, last_fired: null, fail_count: 0, last_error: '', delivered: 0, failed: 0, cursor: 0, attempts: 0, next_at: 0, dropped: 0 }, 0);
    return { webhook, replayed };
  }

  async delete(id: string, audit: AuditTag): Promise<{ deleted: string }> {
    await this.writer.call('webhooks.delete', { id }, { audit });
    this.onChange();
    return { deleted: id };
  }

  /**
   * Seals the secrets stored in plain text (by a server from before secrets were sealed): how many it sealed, and
   * how many it had to leave (no key: cluster mode without --secret-key-file).
   */
  async sealStored(): Promise<{ sealed: number; left: number }> {
    const plain = (await this.reader.list()).filter((w) => w.secret !== '' && !SecretBox.isSealed(w.secret));
    if (!this.box.enabled) return { sealed: 0, left: plain.length };
    let sealed = 0;
    for (const w of plain) if ((await this.writer.call('webhooks.seal_secret', { id: w.id, was: w.secret, secret: this.box.seal(w.secret) })).sealed) sealed++;
    return { sealed, left: 0 };
  }

  /** Sends the test body (even to an inactive webhook); counters untouched. */
  async test(id: string): Promise<{ tested: string; status: 'ok' }> {
    const w = await this.reader.get(id);
    if (!w) throw fail('WEBHOOK_NOT_FOUND', id);
    const body = JSON.stringify({ topic: 'webhook.test', data: { webhook_id: id, test: true }, source: 'koor' });
    const r = await this.delivery.run(w.url, w.secret, { bodies: [body] });
    if (r.error !== undefined) throw fail('WEBHOOK_TEST_FAILED', r.error);
    return { tested: id, status: 'ok' };
  }
}
