import { Type, type Static } from '../typebox.js';
import { TEMPLATE, TEMPLATE_SUMMARY } from '../db/tables/templates.js';
import { Str } from './rules.js';

/**
 * POST /api/templates. `data` is any JSON value and is not declared here: the
 * route takes its raw text from the body so it is stored exactly as sent (number spelling, big
 * integers, member order). What is required (id, name, data) is the route's to say, in the original's order
 * and words.
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

/** An entry of GET /api/templates: a template without its data (schemas/db/tables/templates.ts). */
export const TemplateSummary = TEMPLATE_SUMMARY.Wire;
export type TemplateSummary = Static<typeof TemplateSummary>;
export const TemplateListReply = Type.Array(TemplateSummary);

/** POST /api/templates and GET /api/templates/{id}: `data` is the JSON as it was sent. */
export const Template = TEMPLATE.Wire;
export type Template = Static<typeof Template>;

/** POST /api/templates/{id}/apply. */
export const TemplateApplyReply = Type.Object({ applied: Type.String(), project: Type.String(), kind: Type.String() });
export type TemplateApplyReply = Static<typeof TemplateApplyReply>;
