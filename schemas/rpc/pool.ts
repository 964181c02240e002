import { Type, type Static } from '../typebox.js';
import { Bytes, type MethodTable } from './envelope.js';

/** One entry of a state diff. `old`/`new` are omitted when null. */
export const DiffEntry = Type.Object({
  path: Type.String(),
  old: Type.Optional(Type.Unknown()),
  new: Type.Optional(Type.Unknown()),
  kind: Type.Union([Type.Literal('added'), Type.Literal('removed'), Type.Literal('changed')]),
});
export type DiffEntry = Static<typeof DiffEntry>;

/** A rule as the validation job needs it: already filtered by status, stack and filename. */
export const ValidateRule = Type.Object({
  rule_id: Type.String(),
  severity: Type.String(),
  match_type: Type.String(),
  pattern: Type.String(),
  message: Type.String(),
});
export type ValidateRule = Static<typeof ValidateRule>;

/** A rule violation: `line`/`match` omitted when 0/empty. */
export const Violation = Type.Object({
  rule_id: Type.String(),
  severity: Type.String(),
  message: Type.String(),
  line: Type.Optional(Type.Integer()),
  match: Type.Optional(Type.String()),
});
export type Violation = Static<typeof Violation>;

/** A contract violation: where, and what is wrong. */
export const ContractViolation = Type.Object({ path: Type.String(), message: Type.String() });
export type ContractViolation = Static<typeof ContractViolation>;

/** A stored contract: its bytes and their hash (the worker caches the compiled contract by hash). */
const ContractRef = { contract: Bytes, hash: Type.String() };
/** The stored spec is not a contract: `error` is the reason (`contract has no endpoints`, …). */
const NotContract = Type.Object({ ok: Type.Literal(false), error: Type.String() });

/**
 * A job's clock, for jobs whose time budget counts from when they start running (not from when
 * they were queued, which may include a replacement worker's start-up): `clock` is a
 * SharedArrayBuffer of two Int32 slots. The worker stores in slot 0 the ms after `clock_base`
 * (epoch ms) at which it started the job (-1 until then); slot 1 is the job's own progress mark.
 */
const JobClock = {
  clock: Type.Unsafe<SharedArrayBuffer>({}),
  clock_base: Type.Number(),
};

/** CPU jobs run on the piscina pool: pure input -> result, no DB. */
export const PoolMethods = {
  /** No-op used to bring every thread up before the server reports ready. */
  ping: { req: Type.Object({}), res: Type.Object({ threadId: Type.Integer() }) },
  diff: {
    req: Type.Object({ a: Bytes, b: Bytes, v1: Type.Integer(), v2: Type.Integer() }),
    res: Type.Union([
      /** `diffs`: the JSON text of DiffEntry[] (numbers kept exactly as stored). */
      Type.Object({ ok: Type.Literal(true), diffs: Type.String() }),
      /** `version N is not a JSON object: <reason>` */
      Type.Object({ ok: Type.Literal(false), error: Type.String() }),
    ]),
  },
  /**
   * Validates one file against a project's rules, in order. The worker
   * stores the index of the rule it is evaluating in `clock` slot 1, so that when the job runs over
   * its budget (and its worker is replaced) the caller knows which pattern was running.
   */
  'rules.validate': {
    req: Type.Object({
      content: Type.String(),
      /**
       * The ValidateRule[] as JSON text: one string is far cheaper to post than an array of
       * objects, and the worker keeps the parsed form of the texts it has seen.
       */
      rules_json: Type.String(),
      /** Stop once this many violations are found (the reply and its cost stay bounded). */
      max_violations: Type.Integer({ minimum: 1 }),
      ...JobClock,
    }),
    /**
     * `counts[i]`: how many of `violations` (in rule order) rule i produced; `truncated`: the
     * limit was reached, later lines and rules were not searched.
     */
    res: Type.Object({ violations: Type.Array(Violation), counts: Type.Array(Type.Integer()), truncated: Type.Boolean() }),
  },
  /** One payload against one endpoint's section (POST /api/contracts/{project}/{name}/validate). */
  'contract.validate': {
    req: Type.Object({ ...ContractRef, endpoint: Type.String(), direction: Type.String(), payload: Type.Unknown() }),
    res: Type.Union([Type.Object({ ok: Type.Literal(true), violations: Type.Array(ContractViolation) }), NotContract]),
  },
  /** Before a live test: does the endpoint exist, its expected status, and the check of `test_data`. */
  'contract.plan_test': {
    req: Type.Object({ ...ContractRef, endpoint: Type.String(), test_data: Type.Optional(Type.Unknown()) }),
    res: Type.Union([
      Type.Object({ ok: Type.Literal(true), found: Type.Boolean(), response_status: Type.Integer(), request_violations: Type.Array(ContractViolation) }),
      NotContract,
    ]),
  },
  /** A backend's reply body (at most 10 MiB) against the endpoint's response sections. */
  'contract.check_reply': {
    req: Type.Object({ ...ContractRef, endpoint: Type.String(), body: Bytes }),
    res: Type.Union([Type.Object({ ok: Type.Literal(true), violations: Type.Array(ContractViolation) }), NotContract]),
  },
  /** The specs of one project: the contracts among them, each with its violations. */
  'compliance.check': {
    req: Type.Object({ specs: Type.Array(Type.Object({ name: Type.String(), data: Bytes, hash: Type.String() })) }),
    res: Type.Object({ contracts: Type.Array(Type.Object({ name: Type.String(), violations: Type.Array(ContractViolation) })) }),
  },
} satisfies MethodTable;
export type PoolMethods = typeof PoolMethods;
