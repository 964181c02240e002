import { ERRORS, errorMessage, type ErrorCode, type ErrorParams } from '../../schemas/error-catalogue.js';
import type { StatusName, WireError } from '../../schemas/errors.js';

/** An expected failure of a writer method; crosses the port as a WireError. */
export class Fault extends Error {
  constructor(
    readonly status: StatusName,
    message: string,
    readonly detail?: Record<string, string | number>,
  ) {
    super(message);
  }

  toWire(): WireError {
    return this.detail === undefined
      ? { status: this.status, message: this.message }
      : { status: this.status, message: this.message, detail: this.detail };
  }
}

/**
 * The fault `code` names in the catalogue (schemas/error-catalogue.ts), its message written from
 * `params`: the only way a store raises an error the client reads, so the front and the stores
 * spell a shared message (`task not found: 7`) once.
 */
export function fault<C extends ErrorCode>(code: C, ...params: ErrorParams<C>): Fault {
  return new Fault(ERRORS[code].status, errorMessage(code, ...params));
}

export const preconditionFailed = (cur: { version: number; hash: string } | undefined): Fault =>
  new Fault(
    ERRORS.PRECONDITION_FAILED.status,
    errorMessage('PRECONDITION_FAILED', cur?.version ?? 0),
    cur ? { version: cur.version, hash: cur.hash } : { version: 0 },
  );

/** `"a", W/"b"` → [a, b] (quotes and weak prefix stripped). */
function entityTags(header: string): string[] {
  return header.split(',').map((t) => t.trim().replace(/^W\//, '').replace(/^"|"$/g, ''));
}

/**
 * If-Match `"<hash>"` (or `*` = must exist); If-None-Match `*` (= must not exist)
 * or a list of tags the current value must not carry.
 */
export function checkPreconditions(
  cur: { version: number; hash: string } | undefined,
  ifMatch: string | undefined,
  ifNoneMatch: string | undefined,
): void {
  if (ifNoneMatch !== undefined && ifNoneMatch.trim() !== '' && cur) {
    const tags = entityTags(ifNoneMatch);
    if (tags.includes('*') || tags.includes(cur.hash)) throw preconditionFailed(cur);
  }
  if (ifMatch !== undefined && ifMatch.trim() !== '') {
    if (!cur) throw preconditionFailed(cur);
    const tags = entityTags(ifMatch);
    if (!tags.includes('*') && !tags.includes(cur.hash)) throw preconditionFailed(cur);
  }
}
