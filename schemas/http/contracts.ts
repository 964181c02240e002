import { Type, type Static } from '../typebox.js';
import { PathViolation } from './common.js';

/** A JSON object of any members, or null (Go decodes both into a map; null = absent). */
const JsonObject = Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()]);

/** POST /api/contracts/{project}/{name}/validate; unknown members ignored. */
export const ContractValidateBody = Type.Object({
  endpoint: Type.Optional(Type.String()),
  /** Default `request`. */
  direction: Type.Optional(Type.String()),
  /** Absent or null = `{}`. */
  payload: Type.Optional(JsonObject),
});

/** POST /api/contracts/{project}/{name}/test. */
export const ContractTestBody = Type.Object({
  endpoint: Type.Optional(Type.String()),
  base_url: Type.Optional(Type.String()),
  /** Checked as the endpoint's request and sent as the body of POST/PUT/PATCH. */
  test_data: Type.Optional(JsonObject),
});

/** POST /api/contracts/{project}/{name}/validate. */
export const ContractValidateReply = Type.Object({ valid: Type.Boolean(), violations: Type.Array(PathViolation) });
export type ContractValidateReply = Static<typeof ContractValidateReply>;

/** POST /api/contracts/{project}/{name}/test: `status_code` 0 and `error` set when no reply came. */
export const ContractTestReply = Type.Object({
  valid: Type.Boolean(),
  endpoint: Type.String(),
  status_code: Type.Integer(),
  request_violations: Type.Array(PathViolation),
  response_violations: Type.Array(PathViolation),
  error: Type.String(),
});
export type ContractTestReply = Static<typeof ContractTestReply>;
