import { Type, type Static } from '../typebox.js';

/** An optional string member; JSON null reads as absent (as the original's Go structs decode it). */
export const Str = Type.Optional(Type.Union([Type.String(), Type.Null()]));

/**
 * A rule as clients write it (SPEC §2.7, §2.8): PUT rules, propose, import, a rules template.
 * Every member optional here; what each route requires, and the defaults, are the rules service's.
 */
export const RuleInput = Type.Object({
  project: Str,
  rule_id: Str,
  severity: Str,
  match_type: Str,
  pattern: Str,
  message: Str,
  stack: Str,
  /** Absent or null → `["*"]`; an explicit `[]` is kept (it matches every file). */
  applies_to: Type.Optional(Type.Union([Type.Array(Type.String()), Type.Null()])),
  source: Str,
  proposed_by: Str,
  context: Str,
});
export type RuleInput = Static<typeof RuleInput>;

/** PUT /api/validate/{project}/rules: an array, or `null` (deletes all the project's rules). */
export const RulesPutBody = Type.Union([Type.Array(RuleInput), Type.Null()]);

/** A `rules` template's data: an array of rules. */
export const RuleArray = Type.Array(RuleInput);

/** POST /api/rules/import: an array (`null` reads as an empty one). */
export const RulesImportBody = Type.Union([RuleArray, Type.Null()]);

/** POST /api/validate/{project}. */
export const ValidateBody = Type.Object({
  filename: Str,
  content: Str,
  stack: Str,
});
