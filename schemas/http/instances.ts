import { Type } from '../typebox.js';

/** POST /api/instances/register (SPEC §2.5); `capabilities` is an extension (absent/null → []). */
export const RegisterBody = Type.Object({
  name: Type.Optional(Type.String()),
  workspace: Type.Optional(Type.String()),
  intent: Type.Optional(Type.String()),
  stack: Type.Optional(Type.String()),
  capabilities: Type.Optional(Type.Union([Type.Array(Type.String()), Type.Null()])),
});

/** POST /api/instances/{id}/capabilities: absent/null → []; a body is required. */
export const CapabilitiesBody = Type.Object({
  capabilities: Type.Optional(Type.Union([Type.Array(Type.String()), Type.Null()])),
});
