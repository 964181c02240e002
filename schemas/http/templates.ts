import { Type } from '../typebox.js';
import { Str } from './rules.js';

/**
 * POST /api/templates (SPEC §2.12, §7-11). `data` is any JSON value and is not declared here: the
 * route takes its raw text from the body so it is stored exactly as sent (number spelling, big
 * integers, member order). What is required (id, name, data) is the route's to say, in SPEC order.
 */
export const TemplateCreateBody = Type.Object({
  id: Str,
  name: Str,
  description: Str,
  /** Default `rules`; any string is accepted (`rules`, `contracts`, `bundle`, …). */
  kind: Str,
  /** Default `[]`. */
  tags: Type.Optional(Type.Union([Type.Array(Type.String()), Type.Null()])),
});

/** POST /api/templates/{id}/apply. */
export const TemplateApplyBody = Type.Object({
  project: Str,
});
