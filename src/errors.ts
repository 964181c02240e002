import { ERRORS, errorMessage, type ErrorCode, type ErrorParams } from '../schemas/error-catalogue.js';
import type { StatusName, WireError } from '../schemas/errors.js';
import { isDatabaseUnavailable, isUnstorableText } from './shared/pg-errors.js';

/** HTTP status for each status name: the only place this mapping exists. */
export const HTTP_STATUS: Readonly<Record<StatusName, number>> = Object.freeze({
  INVALID_ARGUMENT: 400,
  UNAUTHENTICATED: 401,
  PERMISSION_DENIED: 403,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  ALREADY_EXISTS: 409,
  FAILED_PRECONDITION: 412,
  PAYLOAD_TOO_LARGE: 413,
  URI_TOO_LONG: 414,
  RESOURCE_EXHAUSTED: 503,
  INSUFFICIENT_STORAGE: 507,
  RATE_LIMITED: 429,
  DEADLINE_EXCEEDED: 503,
  OUTCOME_UNKNOWN: 504,
  UNAVAILABLE: 503,
  INTERNAL: 500,
});

/** The one error type of the server. `message` is what the client sees. */
export class AppError extends Error {
  readonly status: StatusName;
  readonly detail: Readonly<Record<string, string | number>> | undefined;
  /** Members the HTTP error body carries besides `error` and `code` (a lease conflict's `conflicts`). */
  readonly body: Readonly<Record<string, unknown>> | undefined;

  constructor(status: StatusName, message: string, opts?: { cause?: unknown; detail?: Record<string, string | number>; body?: Record<string, unknown> }) {
    // A refusal of the request (4xx) is an answer, not a fault: it captures no stack, which was
    // ~10 µs of a 404 GET's ~20 (a fifth of the front's CPU over keys half of them missing).
    const limit = Error.stackTraceLimit;
    if (HTTP_STATUS[status] < 500) Error.stackTraceLimit = 0;
    super(message, opts?.cause === undefined ? undefined : { cause: opts.cause });
    Error.stackTraceLimit = limit;
    this.name = 'AppError';
    this.status = status;
    this.detail = opts?.detail;
    this.body = opts?.body;
  }

  get httpStatus(): number {
    return HTTP_STATUS[this.status];
  }

  toWire(): WireError {
    return this.detail === undefined
      ? { status: this.status, message: this.message }
      : { status: this.status, message: this.message, detail: { ...this.detail } };
  }

  static fromWire(w: WireError): AppError {
    return new AppError(w.status, w.message, w.detail === undefined ? undefined : { detail: w.detail });
  }
}

/**
 * Anything thrown becomes an AppError: a database that cannot be reached is UNAVAILABLE (retry),
 * text PostgreSQL cannot store (U+0000) the request's INVALID_ARGUMENT, other unknown errors a
 * generic INTERNAL one.
 */
export function toAppError(err: unknown, operation = 'handle request'): AppError {
  if (err instanceof AppError) return err;
  if (isDatabaseUnavailable(err)) return failWith('DATABASE_UNAVAILABLE', { cause: err });
  if (isUnstorableText(err)) return fail('TEXT_NUL', operation);
  return internal(operation, err);
}

/**
 * The error `code` names in the catalogue (schemas/error-catalogue.ts), its message written from
 * `params`: the only way the front raises an error a client reads, so each message has one spelling.
 */
export function fail<C extends ErrorCode>(code: C, ...params: ErrorParams<C>): AppError {
  return new AppError(ERRORS[code].status, errorMessage(code, ...params));
}

/** `fail` with what some errors carry besides their message: a cause for the log, `detail`, body members. */
export function failWith<C extends ErrorCode>(
  code: C,
  opts: { cause?: unknown; detail?: Record<string, string | number>; body?: Record<string, unknown> },
  ...params: ErrorParams<C>
): AppError {
  return new AppError(ERRORS[code].status, errorMessage(code, ...params), opts);
}

/**
 * A failure the client cannot act on: a generic `failed to <operation>` (the cause goes to the log
 * through `cause`, never to the client).
 */
export const internal = (operation: string, cause?: unknown): AppError => failWith('OPERATION_FAILED', { cause }, operation);
