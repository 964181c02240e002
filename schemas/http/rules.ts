import { Type, type Static } from '../typebox.js';
import { RULE } from '../db/tables/rules.js';

/** An optional string member; JSON null reads as absent (as the original's Go structs decode it). */
export const Str = Type.Optional(Type.Union([Type.String(), Type.Null()]));

/**
 * A rule as clients write it: PUT rules, propose, import, a rules template.
 * Every member optional here; what each route requires, and the defaults, are the rules service's.
 * Its members are the rule's input fields (schemas/db/tables/rules.ts), each nullable, named in
 * the API by `Str`: test/unit/record.test.ts keeps the two lists the same.
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

/** A rule as replies show it (schemas/db/tables/rules.ts): `proposed_by`, `context` and `created_at` omitted when empty. */
export const Rule = RULE.Wire;
export type Rule = Static<typeof Rule>;

/** GET /api/rules/export and GET /api/rules: by project, rule_id. */
export const RuleListReply = Type.Array(Rule);

/** GET /api/validate/{project}/rules: every status, by rule_id. */
export const ProjectRulesReply = Type.Object({ project: Type.String(), rules: RuleListReply });
export type ProjectRulesReply = Static<typeof ProjectRulesReply>;

/** PUT /api/validate/{project}/rules. */
export const RulesPutReply = Type.Object({ project: Type.String(), count: Type.Integer() });
export type RulesPutReply = Static<typeof RulesPutReply>;

/** A rule a file breaks; `line` and `match` omitted when 0/empty. */
export const RuleViolation = Type.Object({
  rule_id: Type.String(),
  severity: Type.String(),
  message: Type.String(),
  line: Type.Optional(Type.Integer()),
  match: Type.Optional(Type.String()),
});
export type RuleViolation = Static<typeof RuleViolation>;

/** POST /api/validate/{project}; `truncated` only when the content hit the violation cap. */
export const ValidateReply = Type.Object({
  project: Type.String(),
  violations: Type.Array(RuleViolation),
  count: Type.Integer(),
  truncated: Type.Optional(Type.Boolean()),
});
export type ValidateReply = Static<typeof ValidateReply>;

/** POST /api/rules/propose (`proposed`), …/accept and …/reject. */
export const RuleDecisionReply = Type.Pick(Rule, ['project', 'rule_id', 'status']);
export type RuleDecisionReply = Static<typeof RuleDecisionReply>;

/** POST /api/rules/import. */
export const RulesImportReply = Type.Object({ imported: Type.Integer() });
export type RulesImportReply = Static<typeof RulesImportReply>;
