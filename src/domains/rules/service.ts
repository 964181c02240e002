import type { AuditTag, IdemTag } from '../../../schemas/rpc/envelope.js';
import { effectiveRegex, regexError } from '../../../schemas/regex.js';
import { RULE, type RuleDbRow } from '../../../schemas/db/tables/rules.js';
import type { Rule, RuleInput } from '../../../schemas/http/rules.js';
import type { ValidateRule, Violation } from '../../../schemas/rpc/pool.js';
import type { RuleRow } from '../../../schemas/rpc/writer.js';
import { isValidGlob, matcherFor } from '../../shared/glob.js';
import { AppError, fail } from '../../errors.js';
import { RULES_CACHE_PROJECTS, RULES_CACHE_SUBSETS, VALIDATE_MAX_TIMEOUTS, VALIDATE_MAX_VIOLATIONS } from '../../shared/limits.js';
import type { PoolClient } from '../../rpc/pool-client.js';
import type { WriterClient } from '../../rpc/writer-client.js';
import type { RuleReader } from './reader.js';
import { then } from '../../shared/awaitable.js';

/** A rule's lifecycle status. */
export const RULE_STATUSES = ['accepted', 'proposed', 'rejected'] as const;
export type RuleStatus = (typeof RULE_STATUSES)[number];

/** The project whose rules apply to every project. */
const GLOBAL_PROJECT = '_global';

/** A rule as the API returns it (schemas/db/tables/rules.ts). */
const toRule = (r: RuleDbRow): Rule => RULE.wire(RULE.decode(r));

const s = (v: string | null | undefined): string => v ?? '';

/**
 * A rule's pattern and globs must be usable before it is stored: an invalid
 * regex (after the RE2 → JS mapping) or `applies_to` glob is a 400 with the reason.
 */
function checkUsable(r: { rule_id: string; match_type: string; pattern: string; applies_to: readonly string[] }, label: string): void {
  const re = effectiveRegex(r.match_type, r.pattern);
  const bad = re === null ? null : regexError(re);
  if (bad !== null) throw fail('INVALID_REGEX', bad, label);
  for (const g of r.applies_to) if (!isValidGlob(g)) throw fail('INVALID_PATTERN', g, label);
}

/**
 * A written rule with the write defaults (severity `error`, match_type `regex`,
 * applies_to `["*"]` when absent or null, an explicit `[]` kept); `over` sets what the route decides.
 */
function toRow(r: RuleInput, over: Pick<RuleRow, 'project' | 'source'> & Partial<RuleRow>): RuleRow {
  return {
    rule_id: s(r.rule_id),
    severity: r.severity || 'error',
    match_type: r.match_type || 'regex',
    pattern: s(r.pattern),
    message: s(r.message),
    stack: s(r.stack),
    applies_to: r.applies_to ?? ['*'],
    proposed_by: s(r.proposed_by),
    context: s(r.context),
    ...over,
  };
}

/** One rule of a list names itself in an error; a single-rule request does not need to. */
const labelOf = (r: { rule_id: string }, many: boolean): string => (many ? `rule "${r.rule_id}": ` : '');

/** `filename` selects a rule when an `applies_to` entry matches it or its basename. */
function appliesTo(globs: readonly string[], filename: string): boolean {
  if (filename === '' || globs.length === 0) return true;
  const base = filename.slice(filename.lastIndexOf('/') + 1);
  for (const g of globs) {
    if (g === '' || g === '*') return true;
    const m = matcherFor(g);
    if (m(filename) || m(base)) return true;
  }
  return false;
}

/** A project's accepted rules (then `_global`'s) as validation selects among them. */
interface Selection {
  rules: Array<{ rule: ValidateRule; stack: string; globs: string[] }>;
  /** The JSON text posted to the pool, per distinct subset (indices joined by ','). */
  json: Map<string, string>;
}

/**
 * Validation rules, their lifecycle, and validation itself. Every write of
 * a rule goes through this service, which keeps the rules validation selects from in memory and
 * drops them whenever a rule write settles.
 */
export class RuleService {
  private readonly selections = new Map<string, Selection>();

  constructor(
    private readonly reader: RuleReader,
    private readonly writer: WriterClient,
    private readonly pool: PoolClient,
    /**
     * Cluster mode: other nodes write rules too, so nothing read is kept across requests (a
     * selection lives for one validation); the JSON per subset is still built once per request.
     */
    private readonly othersWrite = false,
  ) {}

  /**
   * A rule write: once it settles (committed, refused, or of unknown outcome) the cached
   * selections are dropped. Reads are synchronous on this thread, so a selection read before the
   * commit is dropped here before the write's reply is sent.
   */
  private write<T>(call: Promise<T>): Promise<T> {
    return call.finally(() => this.selections.clear());
  }

  private selection(project: string): Selection | Promise<Selection> {
    const cached = this.selections.get(project);
    if (cached) return cached;
    const build = (rows: RuleDbRow[]): Selection => {
      const sel: Selection = {
        rules: rows.map(RULE.decode).map((r) => ({
          rule: { rule_id: r.rule_id, severity: r.severity, match_type: r.match_type, pattern: r.pattern, message: r.message },
          stack: r.stack,
          globs: r.applies_to,
        })),
        json: new Map(),
      };
      // Kept only when nothing can change it unseen: one writer behind this process, and a read
      // that answered at once (SQLite), so no rule write settled between the read and here.
      if (!this.othersWrite) {
        if (this.selections.size >= RULES_CACHE_PROJECTS) this.selections.delete(this.selections.keys().next().value!);
        this.selections.set(project, sel);
      }
      return sel;
    };
    const rows = this.reader.forValidation(project, GLOBAL_PROJECT);
    return then(rows, build);
  }

  async list(project: string, stack: string): Promise<{ project: string; rules: Rule[] }> {
    const rows = (await this.reader.list(project)).filter((r) => stack === '' || r.stack === '' || r.stack === stack);
    return { project, rules: rows.map(toRule) };
  }

  /** PUT rules: replaces every rule of the project (any status) in one transaction. */
  async replace(project: string, body: RuleInput[] | null): Promise<{ project: string; count: number }> {
    // The path's project wins; proposed_by and context are not kept by a PUT.
    const rules = (body ?? []).map((r) => toRow(r, { project, source: r.source || 'local', proposed_by: '', context: '' }));
    for (const r of rules) checkUsable(r, labelOf(r, rules.length > 1));
    const res = await this.write(this.writer.call('rules.replace', { project, rules }));
    return { project, count: res.count };
  }

  /**
   * A rule proposed by an agent (REST or MCP): stored `proposed`, fires only once accepted. `idem`:
   * an Idempotency-Key's tag (a retry gets the first result, `replayed`).
   */
  async propose(r: RuleInput, proposer: string, audit?: AuditTag, idem: IdemTag | null = null) {
    for (const k of ['project', 'rule_id', 'pattern'] as const) if (!r[k]) throw fail('FIELD_REQUIRED', k);
    const { source: _learned, ...row } = toRow(r, { project: r.project!, source: 'learned', proposed_by: r.proposed_by || proposer });
    checkUsable(row, '');
    return this.write(this.writer.callIdempotent('rules.propose', row, idem, audit ? { audit } : undefined));
  }

  decide(project: string, ruleId: string, status: 'accepted' | 'rejected', audit?: AuditTag, idem: IdemTag | null = null) {
    return this.write(this.writer.callIdempotent('rules.decide', { project, rule_id: ruleId, status }, idem, audit ? { audit } : undefined));
  }

  /** Every project's rules (of one status, or all), by project and rule_id: what waits for a decision. */
  async listAll(status: RuleStatus | null): Promise<Rule[]> {
    return (await this.reader.all(status)).map(toRule);
  }

  /** Deletes one rule, whatever its status (audited `rule.delete`). */
  delete(project: string, ruleId: string, audit?: AuditTag): Promise<{ deleted: string }> {
    return this.write(this.writer.call('rules.delete', { project, rule_id: ruleId }, { audit })).then((r) => ({ deleted: `${r.project}/${r.rule_id}` }));
  }

  /** Accepted rules of every project whose source is one of `sources`, by project and rule_id. */
  async export(sources: readonly string[]): Promise<Rule[]> {
    const want = new Set(sources);
    return (await this.reader.all('accepted')).filter((r) => want.has(r.source)).map(toRule);
  }

  /**
   * Import: entries without project, rule_id or pattern are skipped; the rest are
   * upserted `accepted`. `opts.project` forces every entry's project (a rules template applied
   * to a project).
   */
  async import(rules: readonly RuleInput[], opts: { project?: string; audit?: AuditTag } = {}): Promise<{ imported: number }> {
    if (rules.length === 0) throw fail('EMPTY_RULES');
    const rows: RuleRow[] = [];
    for (const r of rules) {
      const project = opts.project ?? s(r.project);
      if (!project || !r.rule_id || !r.pattern) continue;
      rows.push(toRow(r, { project, source: r.source || 'external' }));
    }
    for (const r of rows) checkUsable(r, labelOf(r, rows.length > 1));
    if (rows.length === 0) return { imported: 0 };
    return this.write(this.writer.call('rules.import', { rules: rows }, { audit: opts.audit }));
  }

  /**
   * Validates a file against the project's and `_global`'s accepted rules. Selection
   * happens here; the patterns run in the pool under the job's time budget (counted from when a
   * worker starts the job). A rule still running when the budget ends yields `pattern timed out`
   * (its worker is replaced) and the job runs again without it, so the other rules still report.
   * After VALIDATE_MAX_TIMEOUTS such rules, the rules the last job had not reached are reported as
   * not run rather than tried again. At most VALIDATE_MAX_VIOLATIONS violations are reported; the
   * reply then carries `"truncated":true`.
   */
  async validate(project: string, req: { filename: string; content: string; stack: string }) {
    const sel = await this.selection(project);
    const picked: number[] = [];
    sel.rules.forEach((r, i) => {
      if ((req.stack === '' || r.stack === '' || r.stack === req.stack) && appliesTo(r.globs, req.filename)) picked.push(i);
    });
    const rules = picked.map((i) => sel.rules[i]!.rule);
    const { violations, truncated } = rules.length === 0 ? { violations: [], truncated: false } : await this.evaluate(rules, req.content, sel, picked.join(','));
    return truncated ? { project, violations, count: violations.length, truncated } : { project, violations, count: violations.length };
  }

  private async evaluate(rules: readonly ValidateRule[], content: string, sel: Selection, subset: string): Promise<{ violations: Violation[]; truncated: boolean }> {
    const results: Array<Violation[] | string> = rules.map(() => []);
    let pending = rules.map((_, i) => i);
    let timeouts = 0;
    let truncated = false;
    while (pending.length > 0) {
      const clock = new SharedArrayBuffer(8);
      const marks = new Int32Array(clock).fill(-1);
      const job = { content, rules_json: this.rulesJson(rules, pending, sel, subset), max_violations: VALIDATE_MAX_VIOLATIONS, clock, clock_base: Date.now() };
      try {
        const res = await this.pool.run('rules.validate', job);
        let at = 0;
        pending.forEach((ruleIndex, k) => {
          const n = res.counts[k]!;
          results[ruleIndex] = res.violations.slice(at, at + n);
          at += n;
        });
        truncated = res.truncated;
        break;
      } catch (err) {
        const running = Atomics.load(marks, 1);
        // Over budget before a rule started (a long queue): the pool is busy, not the pattern.
        if (!(err instanceof AppError) || err.status !== 'DEADLINE_EXCEEDED' || running < 0) throw err;
        results[pending[running]!] = 'pattern timed out';
        // Enough runaway patterns for one request: what the job had not reached is not run.
        if (++timeouts >= VALIDATE_MAX_TIMEOUTS) for (const i of pending.slice(running + 1)) results[i] = 'pattern not run: the time budget went to patterns that timed out';
        pending = pending.filter((i) => typeof results[i] !== 'string');
      }
    }
    const violations = results.flatMap((r, i) => (typeof r === 'string' ? [{ rule_id: rules[i]!.rule_id, severity: 'error', message: r }] : r));
    // Timed-out markers can push a reply over the limit by a few; keep the bound exact.
    if (violations.length > VALIDATE_MAX_VIOLATIONS) return { violations: violations.slice(0, VALIDATE_MAX_VIOLATIONS), truncated: true };
    return { violations, truncated };
  }

  /** The JSON of the rules to run: cached per selected subset while nothing timed out. */
  private rulesJson(rules: readonly ValidateRule[], pending: readonly number[], sel: Selection, subset: string): string {
    if (pending.length !== rules.length) return JSON.stringify(pending.map((i) => rules[i]!));
    let json = sel.json.get(subset);
    if (json === undefined) {
      json = JSON.stringify(rules);
      if (sel.json.size < RULES_CACHE_SUBSETS) sel.json.set(subset, json);
    }
    return json;
  }
}
