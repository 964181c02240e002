import t from 'tap';
import { STATUS_NAMES } from '../../schemas/errors.js';
import { AppError, HTTP_STATUS, toAppError } from '../../src/errors.js';

t.test('every status name maps to an HTTP status', async (t) => {
  t.same(Object.keys(HTTP_STATUS).sort(), [...STATUS_NAMES].sort());
  t.same(HTTP_STATUS, {
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
});

t.test('wire round trip keeps status, message and detail', async (t) => {
  const e = new AppError('FAILED_PRECONDITION', 'precondition failed: current version 3', { detail: { version: 3, hash: 'ab' } });
  const back = AppError.fromWire(structuredClone(e.toWire()));
  t.equal(back.status, 'FAILED_PRECONDITION');
  t.equal(back.httpStatus, 412);
  t.same(back.detail, { version: 3, hash: 'ab' });
});

t.test('unknown errors become a generic 500 without leaking details', async (t) => {
  const e = toAppError(new Error('SQLITE_CORRUPT: secret path /x'), 'save state');
  t.equal(e.httpStatus, 500);
  t.equal(e.message, 'failed to save state');
});

t.test("a refusal (4xx) carries no stack frames; a fault (5xx) does, and the process's stack limit is left as it was", async (t) => {
  const limit = Error.stackTraceLimit;
  const refused = new AppError('NOT_FOUND', 'key not found: a');
  t.equal(Error.stackTraceLimit, limit);
  t.notMatch(refused.stack ?? '', /\n\s+at /, 'no frames on a 404');
  t.match(refused.stack ?? '', /key not found: a/, 'the message still heads it');
  const fault = new AppError('INTERNAL', 'failed');
  t.match(fault.stack ?? '', /\n\s+at /, 'frames on a 500');
  t.equal(Error.stackTraceLimit, limit);
});
