import { Type, type Static } from './typebox.js';

/**
 * Status codes shared by every internal RPC and the HTTP layer (gRPC-style names).
 * The mapping to HTTP lives in one place: src/errors.ts.
 */
export const STATUS_NAMES = [
  'INVALID_ARGUMENT',
  'UNAUTHENTICATED',
  'PERMISSION_DENIED',
  'NOT_FOUND',
  'METHOD_NOT_ALLOWED',
  'ALREADY_EXISTS',
  'FAILED_PRECONDITION',
  'PAYLOAD_TOO_LARGE',
  /** A request URL past HTTP_MAX_URL_BYTES (HTTP 414). */
  'URI_TOO_LONG',
  'RESOURCE_EXHAUSTED',
  /** The disk holding the database is full (HTTP 507). */
  'INSUFFICIENT_STORAGE',
  'RATE_LIMITED',
  'DEADLINE_EXCEEDED',
  /**
   * A write sent to the writer whose reply never came in time (the writer died or stalled with it
   * in flight, or the database connection broke during its commit): it may or may not have
   * committed (HTTP 504). Retry it with the same Idempotency-Key, or read it back.
   */
  'OUTCOME_UNKNOWN',
  'UNAVAILABLE',
  'INTERNAL',
] as const;

export type StatusName = (typeof STATUS_NAMES)[number];
export const StatusName = Type.Unsafe<StatusName>(Type.Union(STATUS_NAMES.map((s) => Type.Literal(s))));

/** The error body every HTTP error carries: {"error": "...", "code": <http status>}. */
export const ErrorBody = Type.Object({
  error: Type.String(),
  code: Type.Integer(),
});
export type ErrorBody = Static<typeof ErrorBody>;

/** An error as it crosses a thread boundary (Error objects lose their class over postMessage). */
export const WireError = Type.Object({
  status: StatusName,
  message: Type.String(),
  /** Optional structured detail, e.g. the current version/hash on FAILED_PRECONDITION. */
  detail: Type.Optional(Type.Record(Type.String(), Type.Union([Type.String(), Type.Number()]))),
});
export type WireError = Static<typeof WireError>;
