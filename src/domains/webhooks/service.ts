import type { AuditTag } from '../../../schemas/rpc/envelope.js';
import { isValidGlob } from '../../bus/glob.js';
import { badRequest, notFound } from '../../errors.js';
import { checkName } from '../../http/path.js';
import type { WriterClient } from '../../rpc/writer-client.js';
import { toRfc3339, type ReadDb } from '../../store.js';
import type { DeliveryClient } from '../../rpc/delivery-client.js';
import { Backlog } from './backlog.js';

/** An unset time (SPEC §1.4): `last_fired` until a first success. */
const NEVER = '0001-01-01T00:00:00Z';

interface Row {
  id: string;
  url: string;
  patterns: string;
  secret: string;
  active: number;
  created_at: string;
  last_fired: string | null;
  fail_count: number;
  last_error: string;
  delivered: number;
  failed: number;
  cursor: number;
}

/**
 * The Webhook of SPEC §2.11 as amended by §7-12 (no `secret`, `has_secret` instead), plus its
 * delivery state: `pending` (matching events after its cursor), `delivered` and `failed` attempts, and the
 * `last_error` of the last failed attempt.
 */
export interface WebhookView {
  id: string;
  url: string;
  patterns: string[];
  active: boolean;
  created_at: string;
  last_fired: string;
  fail_count: number;
  has_secret: boolean;
  pending: number;
  delivered: number;
  failed: number;
  last_error: string;
}

const view = (r: Row & { pending: number }): WebhookView => ({
  id: r.id,
  url: r.url,
  patterns: JSON.parse(r.patterns) as string[],
  active: r.active === 1,
  created_at: toRfc3339(r.created_at),
  last_fired: r.last_fired === null ? NEVER : toRfc3339(r.last_fired),
  fail_count: r.fail_count,
  has_secret: r.secret !== '',
  pending: r.pending,
  delivered: r.delivered,
  failed: r.failed,
  last_error: r.last_error,
});

const SELECT = 'SELECT w.* FROM webhooks w';

/** Webhook registry (SPEC §2.11): writes through the writer, reads here; delivery in dispatcher.ts. */
export class WebhookService {
  private readonly q;
  private readonly log: Backlog;

  constructor(
    db: ReadDb,
    private readonly writer: WriterClient,
    private readonly delivery: DeliveryClient,
    /** Called once a webhook was created or deleted (the dispatcher looks again). */
    private readonly onChange: () => void = () => {},
  ) {
    this.q = {
      // Newest first; rowid breaks ties within a second.
      list: db.prepare<[], Row>(`${SELECT} ORDER BY w.created_at DESC, w.rowid DESC`),
      get: db.prepare<[string], Row>(`${SELECT} WHERE w.id = ?`),
    };
    this.log = new Backlog(db);
  }

  list(): WebhookView[] {
    const newest = this.log.newest();
    return this.q.list.all().map((r) => view(this.withPending(r, newest)));
  }

  /** `pending`: the events an active webhook has yet to receive (matching, after its cursor). */
  private withPending(r: Row, newest: number): Row & { pending: number } {
    const pending = r.active === 1 ? this.log.pending(r.patterns, r.cursor, newest) : 0;
    return { ...r, pending };
  }

  private row(id: string): Row {
    const r = this.q.get.get(id);
    if (!r) throw notFound(`webhook not found: ${id}`);
    return r;
  }

  async create(input: { id: string; url: string; patterns: string[]; secret: string }, audit: AuditTag): Promise<WebhookView> {
    checkName(input.id, 'id');
    for (const p of input.patterns) if (!isValidGlob(p)) throw badRequest(`invalid pattern: ${p}`);
    const patterns = input.patterns.length === 0 ? ['*'] : input.patterns;
    const r = await this.writer.call('webhooks.create', { ...input, patterns }, { audit });
    this.onChange();
    return view({ id: input.id, url: input.url, patterns: JSON.stringify(patterns), secret: input.secret, active: 1, created_at: r.created_at, last_fired: null, fail_count: 0, last_error: '', delivered: 0, failed: 0, cursor: 0, pending: 0 });
  }

  async delete(id: string, audit: AuditTag): Promise<{ deleted: string }> {
    await this.writer.call('webhooks.delete', { id }, { audit });
    this.onChange();
    return { deleted: id };
  }

  /** Sends the test body (even to an inactive webhook); counters untouched (SPEC §2.11). */
  async test(id: string): Promise<{ tested: string; status: 'ok' }> {
    const w = this.row(id);
    const body = JSON.stringify({ topic: 'webhook.test', data: { webhook_id: id, test: true }, source: 'koor' });
    const r = await this.delivery.run(w.url, w.secret, { bodies: [body] });
    if (r.error !== undefined) throw badRequest(`webhook test failed: ${r.error}`);
    return { tested: id, status: 'ok' };
  }
}
