import type { AuditTag, IdemTag } from '../../../schemas/rpc/envelope.js';
import type { LeaseCandidate as Candidate } from '../../../schemas/db/leases.js';
import { LEASE } from '../../../schemas/db/tables/leases.js';
import type { Lease } from '../../../schemas/http/leases.js';
import { pathGlob, pathGlobMatch, globsOverlap } from '../../shared/path-glob.js';
import { parseDuration } from '../../config.js';
import { fail, failWith } from '../../errors.js';
import { checkName } from '../../names.js';
import { LEASE_EXPIRE_CHUNK, LEASE_MAX_RESOURCES, LEASE_MAX_TTL_MS } from '../../shared/limits-features.js';
import type { Logger } from '../../log.js';
import type { WriterClient } from '../../rpc/writer-client.js';
import { Periodic } from '../../shared/periodic.js';
import type { Awaitable } from '../../shared/awaitable.js';
import type { LeaseReader } from './reader.js';
import { defined } from '../../shared/defined.js';
import { dataNow } from '../../../schemas/db/time.js';

export interface AcquireInput {
  /** The project its paths are in. */
  project: string;
  resources: string[];
  exclusive: boolean;
  ttlMs: number;
  reason: string;
}

/**
 * A lease TTL from a request: Go-style text ("90s", "10m") or seconds as a number; absent, null
 * or "" = none (0). At least 1 s, at most LEASE_MAX_TTL_MS.
 */
export function ttlParam(v: unknown): number {
  if (v === undefined || v === null || v === '') return 0;
  let ms: number;
  if (typeof v === 'number') ms = Math.round(v * 1000);
  else {
    try {
      ms = parseDuration(String(v), 'ttl');
    } catch (e) {
      throw fail('TTL_INVALID', (e as Error).message);
    }
  }
  if (!(ms >= 1000)) throw fail('TTL_TOO_SHORT');
  if (ms > LEASE_MAX_TTL_MS) throw fail('TTL_TOO_LONG', LEASE_MAX_TTL_MS / 3_600_000);
  return ms;
}

/** A lease resource: a well-formed, non-empty path glob of at most MAX_KEY_BYTES; `where` names it in a list ("paths[2]: "). */
export function checkResource(r: string, where = ''): string {
  if (r === '') throw fail('RESOURCE_EMPTY', where);
  checkName(r, where === '' ? 'resource' : where.slice(0, -2));
  if (pathGlob(r) === null) throw fail('INVALID_PATTERN', r, where);
  // Hooks and the pre-commit guard check repository-relative paths (`src/a.ts`): a glob written as
  // a shell path would be accepted and cover nothing.
  const segments = r.split('/');
  const fixed = segments.filter((s) => s !== '' && s !== '.').join('/');
  if (r.startsWith('/')) throw fail('RESOURCE_NOT_RELATIVE', r, `lease paths are relative to the repository root (${fixed || '**'})`, where);
  if (segments.includes('..')) throw fail('RESOURCE_NOT_RELATIVE', r, 'lease paths are relative to the repository root, without ..', where);
  if (r.endsWith('/')) throw fail('RESOURCE_NOT_RELATIVE', r, `a trailing / matches no file; a directory's files are ${fixed}/**`, where);
  if (segments.includes('.') || segments.includes('')) throw fail('RESOURCE_NOT_RELATIVE', r, `lease paths have no ./ or // (${fixed})`, where);
  return r;
}

/** Oldest first (by rowid: acquisition order, finer than acquired_at's second): every lease list. */
const byAge = (a: Candidate, b: Candidate): number => a.seq - b.seq;

/**
 * Leases on path globs. Grants, renewals and releases are decided by the writer (one
 * transaction each); reads use the read connection and, like the writer, find candidate leases
 * through the literal-prefix index rather than scanning them all. A background check releases
 * leases whose TTL ran out.
 */
export class LeaseService {
  private readonly timer: Periodic;
  private sweeping: Promise<void> | null = null;

  constructor(
    private readonly reader: LeaseReader,
    private readonly writer: WriterClient,
    private readonly opts: {
      checkEveryMs: number;
      log: Logger;
      settled?: () => Promise<void>;
      /** An agent's project: what its leases and checks are in when it names none ('' = none). */
      projectOf: (instanceId: string) => Awaitable<string>;
    },
  ) {
    this.timer = new Periodic(() => this.sweep(), { everyMs: opts.checkEveryMs, name: 'lease sweep', log: opts.log });
  }

  /** The project an agent's leases and checks are in when it names none ('' for none, or no agent). */
  async projectOf(instanceId: string | null): Promise<string> {
    return instanceId === null ? '' : this.opts.projectOf(instanceId);
  }

  /** Credits every TTL lease with `byMs` (the time the server missed); how many moved. */
  async shift(byMs: number): Promise<number> {
    return (await this.writer.call('leases.shift', { by_ms: byMs })).shifted;
  }

  /** `replayed`: an idempotent retry answered with the first write's result (its events went out then). */
  async acquire(holder: string, input: AcquireInput, audit: AuditTag, idem: IdemTag | null = null): Promise<{ lease: Lease; replayed: boolean }> {
    if (input.resources.length === 0) throw fail('FIELD_REQUIRED', 'resources');
    if (input.resources.length > LEASE_MAX_RESOURCES) throw fail('TOO_MANY', 'resources', input.resources.length, LEASE_MAX_RESOURCES);
    for (const r of input.resources) checkResource(r);
    checkName(input.reason, 'reason');
    const { res: r, replayed } = await this.writer.callIdempotent(
      'leases.acquire',
      { holder, project: input.project, resources: input.resources, exclusive: input.exclusive, ttl_ms: input.ttlMs, reason: input.reason },
      idem,
      { audit },
    );
    if ('conflict' in r) {
      const { resource, leases } = r.conflict;
      throw failWith('LEASE_CONFLICT', { body: { conflicts: leases.map(LEASE.wire) } }, resource, leases[0]!.holder_name);
    }
    if (!('lease' in r)) throw new Error('leases.acquire answered `held` to a request that is not an auto-lease');
    return { lease: LEASE.wire(r.lease), replayed };
  }

  async renew(holder: string, id: string, ttlMs: number | undefined, fence?: number, idem: IdemTag | null = null): Promise<{ lease: Lease; replayed: boolean }> {
    const { res, replayed } = await this.writer.callIdempotent('leases.renew', { id, holder, ...defined({ ttl_ms: ttlMs, fence }) }, idem);
    return { lease: LEASE.wire(res.lease), replayed };
  }

  async release(holder: string, id: string, audit: AuditTag, fence?: number): Promise<void> {
    await this.writer.call('leases.release', { id, holder, ...defined({ fence }) }, { audit });
  }

  async get(id: string): Promise<Lease> {
    const r = await this.reader.get(id, dataNow());
    if (!r) throw fail('LEASE_NOT_FOUND', id);
    return LEASE.wire(LEASE.decode(r));
  }

  /**
   * Live leases, oldest first; `project`: only that project's (null: every project's);
   * `resource`: only those with a resource overlapping that glob (in `project`, '' when null).
   */
  async list(f: { holder: string | null; project: string | null; resource: string | null; limit: number }): Promise<Lease[]> {
    const now = dataNow();
    if (f.resource === null) return (await this.reader.list(f.holder, f.project, f.limit, now)).map((r) => LEASE.wire(LEASE.decode(r)));
    const glob = checkResource(f.resource);
    const prefix = pathGlob(glob)!.prefix;
    const project = f.project ?? '';
    const rows = [...(await this.reader.startingBefore(project, prefix, now)), ...(await this.reader.under(project, prefix, now))];
    const hits = new Map<string, Candidate>();
    for (const r of rows) if ((f.holder === null || r.holder === f.holder) && !hits.has(r.id) && globsOverlap(glob, r.held)) hits.set(r.id, r);
    return [...hits.values()].sort(byAge).slice(0, f.limit).map((r) => LEASE.wire(LEASE.decode(r)));
  }

  /** Live leases (the koor_leases gauge). */
  count(): Awaitable<number> {
    return this.reader.count(dataNow());
  }

  /** Live leases of `project` with a resource matching the file `path`, oldest first. */
  async check(project: string, path: string): Promise<Lease[]> {
    const hits = new Map<string, Candidate>();
    for (const r of await this.reader.startingBefore(project, path, dataNow())) if (!hits.has(r.id) && pathGlobMatch(r.held, path)) hits.set(r.id, r);
    return [...hits.values()].sort(byAge).map((r) => LEASE.wire(LEASE.decode(r)));
  }

  /** Releases leases past their TTL; the writer is called only when the index says some are due. */
  sweep(): Promise<void> {
    if (this.sweeping) return this.sweeping;
    // After the server was held up, its missed time is credited to the leases before any expires.
    if (this.opts.settled) {
      this.sweeping = this.opts
        .settled()
        .then(() => {
          this.sweeping = null;
          return this.sweepNow();
        })
        .finally(() => {
          this.sweeping = null;
        });
      return this.sweeping;
    }
    return this.sweepNow();
  }

  private sweepNow(): Promise<void> {
    if (this.sweeping) return this.sweeping;
    const due = this.reader.due(dataNow());
    if (due === false) return Promise.resolve();
    this.sweeping = (due === true ? this.expireDue() : due.then((d) => (d ? this.expireDue() : undefined), (err: unknown) => this.opts.log.warn({ err }, 'lease expiry check failed'))).finally(() => {
      this.sweeping = null;
    });
    return this.sweeping;
  }

  private async expireDue(): Promise<void> {
    try {
      for (;;) {
        const r = await this.writer.call('leases.expire', { limit: LEASE_EXPIRE_CHUNK });
        if (!r.more) return;
      }
    } catch (err) {
      this.opts.log.warn({ err }, 'lease expiry failed; retrying at the next check');
    }
  }

  start(): void {
    this.timer.start();
  }

  /** Resolves once the sweep the timer started (if any) is over. */
  stop(): Promise<void> {
    return this.timer.stop();
  }
}
