import { Type, type Static } from '../typebox.js';
import { LEASE } from '../db/tables/leases.js';

/** A duration: Go-style text ("90s", "10m", "1h30m") or a number of seconds; null/"" = none. */
const Ttl = Type.Optional(Type.Union([Type.String(), Type.Number(), Type.Null()]));

/** POST /api/leases. */
export const LeaseBody = Type.Object({
  /** The project its paths are in; default: the calling agent's. */
  project: Type.Optional(Type.String()),
  resources: Type.Optional(Type.Array(Type.String())),
  exclusive: Type.Optional(Type.Boolean()),
  ttl: Ttl,
  reason: Type.Optional(Type.String()),
});

/** POST /api/leases/{id}/renew (body optional): a new TTL, else the lease's own. */
export const RenewBody = Type.Object({ ttl: Ttl, fence: Type.Optional(Type.Integer({ minimum: 0 })) });

/** POST /api/leases/check: which of these paths are leased, and by whom. */
export const CheckBody = Type.Object({ paths: Type.Optional(Type.Array(Type.String())), project: Type.Optional(Type.String()) });

/** A lease (schemas/db/tables/leases.ts); `expires_at` is `""` without a TTL. */
export const Lease = LEASE.Wire;
export type Lease = Static<typeof Lease>;

/** GET /api/leases and GET /api/leases/check?path=P (the leases covering P). */
export const LeaseListReply = Type.Array(Lease);

/** POST /api/leases/check: only the paths someone holds, each with its leases. */
export const LeaseCheckReply = Type.Array(Type.Object({ path: Type.String(), leases: LeaseListReply }));
export type LeaseCheckReply = Static<typeof LeaseCheckReply>;

/** DELETE /api/leases/{id}. */
export const LeaseReleasedReply = Type.Object({ released: Type.String() });
export type LeaseReleasedReply = Static<typeof LeaseReleasedReply>;
