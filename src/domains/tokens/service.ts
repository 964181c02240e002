import { randomBytes, randomUUID } from 'node:crypto';
import type { AuditTag, IdemTag } from '../../../schemas/rpc/envelope.js';
import { TOKEN_LISTED, tokenHash } from '../../../schemas/db/tables/tokens.js';
import type { TokenView } from '../../../schemas/http/tokens.js';
import { headerTokenHash } from '../../token-hash.js';
import { then } from '../../shared/awaitable.js';
import { fail } from '../../errors.js';
import type { Resolved, Role } from '../../identity.js';
import type { Logger } from '../../log.js';
import type { WriterClient } from '../../rpc/writer-client.js';
import { IDENTITY_MISSES_MAX, TOKEN_CONFIRM_MS } from '../../shared/limits.js';
import type { Awaitable } from '../../shared/awaitable.js';
import type { TokenAuthRow, TokenReader } from './reader.js';
import { checkScopes, parseTtl } from './scopes.js';
import { addBounded } from '../../shared/bounded.js';

/**
 * Every created token starts with this, so the Authenticator knows which index to ask (an
 * instance token is a UUID) and secret scanners can spot one in a log or a commit.
 */
const CREATED_TOKEN_PREFIX = 'koor_';
const BEARER_PREFIX = `Bearer ${CREATED_TOKEN_PREFIX}`;

const ROLES: readonly Role[] = ['admin', 'agent', 'reader'];

/** Storage text → epoch ms. */
const storageMs = (s: string): number => Date.parse(`${s.replace(' ', 'T')}Z`);

interface Known {
  readonly id: string;
  readonly resolved: Resolved;
  /** Epoch ms past which the token is refused; null = never. */
  readonly expiresAt: number | null;
  /** Date.now() when the lookup that found it was sent (cluster mode: confirmed again after TOKEN_CONFIRM_MS). */
  readonly at: number;
}

/**
 * Tokens an admin created: `koor_` + 256 random bits (base64url), shown once; the
 * database keeps their SHA-256. This node remembers every token's hash with its rights (loaded at
 * start, like the agents' identity index). Cluster mode: a hash this node does not know is looked
 * up in the database; one it knows is confirmed again once TOKEN_CONFIRM_MS old, and a revocation
 * on another node also reaches it by a notification (forget()), so a revoked token is refused on
 * every node within TOKEN_CONFIRM_MS. An expired token is refused like an unknown one.
 */
export class TokenService {
  private readonly byHash = new Map<string, Known>();
  private readonly misses = new Set<string>();
  private readonly confirming = new Map<string, Promise<Resolved | null>>();
  private readonly confirmMs: number | null;

  constructor(
    private readonly reader: TokenReader,
    private readonly writer: WriterClient,
    private readonly log: Logger,
    othersWrite = false,
  ) {
    this.confirmMs = othersWrite ? TOKEN_CONFIRM_MS : null;
    this.reload();
    writer.onUncertain(() => this.reload());
  }

  /** Reads every token anew (start, a lost reply, a restore); a failure is only logged. */
  reload(): void {
    const at = Date.now();
    try {
      void Promise.resolve(
        then(this.reader.all(), (rows) => {
          this.byHash.clear();
          this.misses.clear();
          for (const r of rows) this.index(r, at);
        }),
      ).catch((err: unknown) => this.log.warn({ err }, 'loading the created tokens failed'));
    } catch (err) {
      this.log.warn({ err }, 'loading the created tokens failed');
    }
  }

  private index(r: TokenAuthRow, at: number): Known {
    const scopes = JSON.parse(r.scopes) as string[];
    const known: Known = {
      id: r.id,
      resolved: { identity: null, principal: Object.freeze({ role: r.role as Role, scopes: scopes.length === 0 ? null : Object.freeze(scopes), tokenId: r.id }) },
      expiresAt: r.expires_at === null ? null : storageMs(r.expires_at),
      at,
    };
    this.byHash.set(r.token_hash, known);
    return known;
  }

  /** A token revoked (here, or on another node: its notification). */
  forget(id: string): void {
    for (const [k, v] of this.byHash) if (v.id === id) this.byHash.delete(k);
  }

  /** true when the Authorization header carries a created token (this service answers for it). */
  owns(authorization: string): boolean {
    return authorization.startsWith(BEARER_PREFIX);
  }

  private live(k: Known | null): Resolved | null {
    return k !== null && (k.expiresAt === null || Date.now() < k.expiresAt) ? k.resolved : null;
  }

  /** `Bearer koor_…` → the token's rights (no agent), or null: unknown, revoked or expired. */
  readonly resolve = (authorization: string): Awaitable<Resolved | null> => {
    const hash = headerTokenHash(authorization);
    const known = this.byHash.get(hash);
    if (this.confirmMs === null) return this.live(known ?? null);
    if (known && Date.now() - known.at < this.confirmMs) return this.live(known);
    if (!known && this.misses.has(hash)) return null;
    return this.confirm(hash);
  };

  private confirm(hash: string): Promise<Resolved | null> {
    const pending = this.confirming.get(hash);
    if (pending) return pending;
    const at = Date.now();
    const p = Promise.resolve(this.reader.byHash(hash))
      .then((r) => {
        if (r) return this.live(this.index(r, at));
        this.byHash.delete(hash);
        addBounded(this.misses, hash, IDENTITY_MISSES_MAX);
        return null;
      })
      .finally(() => this.confirming.delete(hash));
    this.confirming.set(hash, p);
    return p;
  }

  /**
   * `idem`: an idempotent retry gets the first creation's token row with a new token (the first
   * one's plain text was never stored; its hash is replaced, so it stops working) — `replayed`.
   */
  async create(input: { name: string; role: string; scopes: readonly string[]; ttl: unknown }, audit: AuditTag, idem: IdemTag | null = null): Promise<{ token: TokenView & { token: string }; replayed: boolean }> {
    if (!(ROLES as readonly string[]).includes(input.role)) throw fail('TOKEN_ROLE_INVALID', input.role);
    const scopes = checkScopes(input.scopes);
    const ttlMs = parseTtl(input.ttl);
    const token = CREATED_TOKEN_PREFIX + randomBytes(32).toString('base64url');
    const hash = tokenHash(token);
    const id = randomUUID();
    const { res: row, replayed } = await this.writer.callIdempotent('tokens.create', { id, name: input.name, role: input.role as Role, scopes, token_hash: hash, ttl_ms: ttlMs }, idem, { audit });
    if (replayed) {
      await this.writer.call('tokens.rekey', { id: row.id, token_hash: hash });
      this.forget(row.id);
    }
    this.index({ id: row.id, role: row.role, scopes: JSON.stringify(row.scopes), token_hash: hash, expires_at: row.expires_at }, Date.now());
    return { token: { ...TOKEN_LISTED.wire(row), token }, replayed };
  }

  async list(): Promise<TokenView[]> {
    return (await this.reader.list()).map((r) => TOKEN_LISTED.wire(TOKEN_LISTED.decode(r)));
  }

  async revoke(id: string, audit: AuditTag): Promise<{ revoked: string }> {
    await this.writer.call('tokens.revoke', { id }, { audit });
    this.forget(id);
    return { revoked: id };
  }
}
