import type { StatusName, WireError } from '../schemas/errors.js';
import { isDatabaseUnavailable } from './shared/pg.js';

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
  RESOURCE_EXHAUSTED: 503,
  DEADLINE_EXCEEDED: 503,
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
    super(message, opts?.cause === undefined ? undefined : { cause: opts.cause });
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
 * other unknown errors a generic INTERNAL one.
 */
export function toAppError(err: unknown, operation = 'handle request'): AppError {
  if (err instanceof AppError) return err;
  if (isDatabaseUnavailable(err)) return new AppError('UNAVAILABLE', 'database unavailable', { cause: err });
  return new AppError('INTERNAL', `failed to ${operation}`, { cause: err });
}

// Named constructors for the cases the product uses.
export const badRequest = (msg: string): AppError => new AppError('INVALID_ARGUMENT', msg);
export const notFound = (msg: string): AppError => new AppError('NOT_FOUND', msg);
export const unauthenticated = (): AppError => new AppError('UNAUTHENTICATED', 'invalid or missing bearer token');
export const methodNotAllowed = (): AppError => new AppError('METHOD_NOT_ALLOWED', 'method not allowed');
export const routeNotFound = (): AppError => new AppError('NOT_FOUND', 'not found');
export const tooLarge = (): AppError => new AppError('PAYLOAD_TOO_LARGE', 'body too large');
export const invalidJson = (): AppError => new AppError('INVALID_ARGUMENT', 'invalid JSON body');
export const conflict = (msg: string, body?: Record<string, unknown>): AppError => new AppError('ALREADY_EXISTS', msg, body === undefined ? undefined : { body });
export const preconditionFailed = (version: number, hash?: string): AppError =>
  new AppError('FAILED_PRECONDITION', `precondition failed: current version ${version}`, {
    detail: hash === undefined ? { version } : { version, hash },
  });
export const unavailable = (msg: string): AppError => new AppError('UNAVAILABLE', msg);
export const exhausted = (msg: string): AppError => new AppError('RESOURCE_EXHAUSTED', msg);
export const deadlineExceeded = (msg: string): AppError => new AppError('DEADLINE_EXCEEDED', msg);
export const internal = (operation: string, cause?: unknown): AppError =>
  new AppError('INTERNAL', `failed to ${operation}`, { cause });
