import { Type } from '../typebox.js';

/** A duration: Go-style text ("90s", "10m", "1h30m") or a number of seconds; null/"" = none. */
const Ttl = Type.Optional(Type.Union([Type.String(), Type.Number(), Type.Null()]));

/** POST /api/leases (SPEC §8.8). */
export const LeaseBody = Type.Object({
  resources: Type.Optional(Type.Array(Type.String())),
  exclusive: Type.Optional(Type.Boolean()),
  ttl: Ttl,
  reason: Type.Optional(Type.String()),
});

/** POST /api/leases/{id}/renew (body optional): a new TTL, else the lease's own. */
export const RenewBody = Type.Object({ ttl: Ttl });

/** POST /api/leases/check: which of these paths are leased, and by whom. */
export const CheckBody = Type.Object({ paths: Type.Optional(Type.Array(Type.String())) });

/** POST /api/tasks (SPEC §8.8); `data` is any JSON, kept as sent. */
export const TaskBody = Type.Object({
  project: Type.Optional(Type.String()),
  title: Type.Optional(Type.String()),
  priority: Type.Optional(Type.Integer()),
  deps: Type.Optional(Type.Union([Type.Array(Type.Integer({ minimum: 1 })), Type.Null()])),
  capabilities: Type.Optional(Type.Union([Type.Array(Type.String()), Type.Null()])),
  max_attempts: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
});

/** POST /api/tasks/claim. */
export const ClaimBody = Type.Object({ project: Type.Optional(Type.String()) });

/** POST /api/tasks/{id}/complete|fail|release (body optional); `retry: false` fails for good. */
export const SettleBody = Type.Object({
  reason: Type.Optional(Type.String()),
  retry: Type.Optional(Type.Boolean()),
});
