import type { ReqOf, ResOf } from '../../schemas/rpc/envelope.js';
import type { PoolMethods, ValidateRule, Violation } from '../../schemas/rpc/pool.js';
import { effectiveRegex, re2ToJs } from '../../schemas/regex.js';
import { REGEX_CACHE_ENTRIES, RULE_LISTS_CACHED } from '../../src/shared/limits-features.js';

type M = PoolMethods;

/** Compiled patterns of this worker, by pattern text (the flags come from the pattern itself). */
const compiled = new Map<string, RegExp | string>();

/** The compiled regex, or the reason it does not compile; cached, oldest entry evicted first. */
function compile(pattern: string): RegExp | string {
  let re = compiled.get(pattern);
  if (re !== undefined) return re;
  try {
    re = re2ToJs(pattern);
  } catch (e) {
    re = (e as Error).message;
  }
  if (compiled.size >= REGEX_CACHE_ENTRIES) compiled.delete(compiled.keys().next().value!);
  compiled.set(pattern, re);
  return re;
}

const ruleLists = new Map<string, ValidateRule[]>();

function rulesOf(json: string): ValidateRule[] {
  let list = ruleLists.get(json);
  if (list === undefined) {
    list = JSON.parse(json) as ValidateRule[];
    if (ruleLists.size >= RULE_LISTS_CACHED) ruleLists.delete(ruleLists.keys().next().value!);
    ruleLists.set(json, list);
  }
  return list;
}

/** One rule against the content's lines; appends to `out`. */
export function checkRule(rule: ValidateRule, content: string, lines: readonly string[], out: Violation[], max = Infinity): void {
  const source = effectiveRegex(rule.match_type, rule.pattern);
  if (source === null) return; // an unknown match type is ignored
  const re = compile(source);
  if (typeof re === 'string') {
    out.push({ rule_id: rule.rule_id, severity: 'error', message: `invalid regex pattern: ${re}` });
    return;
  }
  if (rule.match_type === 'missing') {
    if (!re.test(content)) {
      out.push({ rule_id: rule.rule_id, severity: rule.severity, message: rule.message || `required pattern '${source}' not found` });
    }
    return;
  }
  const message = rule.message || `pattern '${source}' matched`;
  for (let i = 0; i < lines.length && out.length < max; i++) {
    const m = re.exec(lines[i]!);
    // The leftmost match only; an empty one counts as no match (the original's quirk).
    if (m === null || m[0] === '') continue;
    out.push({ rule_id: rule.rule_id, severity: rule.severity, message, line: i + 1, match: m[0] });
  }
}

/**
 * Pool job `rules.validate`: every rule in order. Before each rule its index is published in the
 * job's clock, so a caller whose job ran out of time knows which pattern was running.
 */
export function validate(req: ReqOf<M, 'rules.validate'>): ResOf<M, 'rules.validate'> {
  const clock = new Int32Array(req.clock);
  Atomics.store(clock, 0, Date.now() - req.clock_base);
  const lines = req.content.split('\n');
  const violations: Violation[] = [];
  const counts: number[] = [];
  const rules = rulesOf(req.rules_json);
  for (let i = 0; i < rules.length; i++) {
    Atomics.store(clock, 1, i);
    const before = violations.length;
    if (before < req.max_violations) checkRule(rules[i]!, req.content, lines, violations, req.max_violations);
    counts.push(violations.length - before);
  }
  return { violations, counts, truncated: violations.length >= req.max_violations };
}
