import type { Ajv, ValidateFunction } from 'ajv';
import type { ReqOf, ResOf } from '../../schemas/rpc/envelope.js';
import type { ContractViolation, PoolMethods } from '../../schemas/rpc/pool.js';
import { check, compareNames, q } from './contract-errors.js';
import { isObject, parseContract, type Contract, type Endpoint, type Section } from './contract-parse.js';
import { newAjv, objectSchema } from './contract-schema.js';
import { CONTRACT_CACHE_MAX } from '../../src/shared/limits-features.js';

export { goType } from './contract-errors.js';
export { parseContract, type Contract } from './contract-parse.js';

/**
 * API contracts, checked on the pool: a contract's field format is
 * compiled to JSON Schema (contract-schema.ts) and validated by ajv; ajv's errors are mapped to
 * the original's violation messages and paths, in a deterministic order (contract-errors.ts).
 * Compiled validators are cached per contract hash in each worker thread (bounded LRU). The
 * format and its parsing are in contract-parse.ts.
 */

type M = PoolMethods;
type Violation = ContractViolation;

/** The directions a payload may be validated as, and the section each reads. */
const DIRECTIONS = ['request', 'response', 'query', 'error'] as const;
type Direction = (typeof DIRECTIONS)[number];

// ---------------------------------------------------------------------------------------------
// The per-thread cache: contract hash → parsed contract (or why it is not one) + compiled sections

interface Entry {
  parsed: ReturnType<typeof parseContract>;
  /** Created with the first compiled section; dropped with the entry. */
  ajv: Ajv | null;
  validators: Map<string, ValidateFunction>;
}

const cache = new Map<string, Entry>();

/** The parsed contract of these bytes (hash = their SHA-256, computed by the writer). */
function loadContract(bytes: Uint8Array, hash: string): Entry {
  let entry = cache.get(hash);
  if (entry) {
    // Most recently used last.
    cache.delete(hash);
    cache.set(hash, entry);
    return entry;
  }
  entry = { parsed: parseContract(bytes), ajv: null, validators: new Map() };
  cache.set(hash, entry);
  if (cache.size > CONTRACT_CACHE_MAX) {
    cache.delete(cache.keys().next().value!);
  }
  return entry;
}

/** Number of contracts cached in this thread (tests). */
export function cachedContracts(): number {
  return cache.size;
}

function validatorFor(entry: Entry, endpoint: string, which: string, section: Section): ValidateFunction {
  const key = `${endpoint}\n${which}`;
  let v = entry.validators.get(key);
  if (!v) {
    v = (entry.ajv ??= newAjv()).compile(objectSchema(section));
    entry.validators.set(key, v);
  }
  return v;
}

/** validatePayload: one payload object against one endpoint's section. */
function validatePayload(entry: Entry, c: Contract, endpoint: string, direction: string, payload: unknown): Violation[] {
  const ep = c.endpoints.get(endpoint);
  if (!ep) return [{ path: endpoint, message: `endpoint ${q(endpoint)} not in contract` }];
  if (!(DIRECTIONS as readonly string[]).includes(direction)) {
    return [{ path: direction, message: `unknown direction ${q(direction)} (use request, response, query, or error)` }];
  }
  const dir = direction as Direction;
  let which: keyof Endpoint = dir;
  if (dir === 'response' && ep.response === null) which = 'response_array';
  const section = ep[which] as Section | null;
  if (section === null) return [{ path: endpoint, message: `endpoint ${q(endpoint)} has no ${direction} definition` }];
  return check(validatorFor(entry, endpoint, which, section), isObject(payload) ? payload : {}, direction);
}

// ---------------------------------------------------------------------------------------------
// Pool jobs

const notContract = (entry: Entry) => (entry.parsed.ok ? null : { ok: false as const, error: entry.parsed.reason });

/** `contract.validate`: POST /api/contracts/{p}/{n}/validate. */
export function validate(req: ReqOf<M, 'contract.validate'>): ResOf<M, 'contract.validate'> {
  const entry = loadContract(req.contract, req.hash);
  if (!entry.parsed.ok) return notContract(entry)!;
  return { ok: true, violations: validatePayload(entry, entry.parsed.contract, req.endpoint, req.direction, req.payload) };
}

/** `contract.plan_test`: what POST …/test needs before it calls the backend. */
export function planTest(req: ReqOf<M, 'contract.plan_test'>): ResOf<M, 'contract.plan_test'> {
  const entry = loadContract(req.contract, req.hash);
  if (!entry.parsed.ok) return notContract(entry)!;
  const c = entry.parsed.contract;
  const ep = c.endpoints.get(req.endpoint);
  if (!ep) return { ok: true, found: false, response_status: 0, request_violations: [] };
  // test_data given (not null) and the endpoint has a request section → checked as a request.
  const checkRequest = req.test_data !== undefined && req.test_data !== null && ep.request !== null;
  return {
    ok: true,
    found: true,
    response_status: ep.response_status,
    request_violations: checkRequest ? validatePayload(entry, c, req.endpoint, 'request', req.test_data) : [],
  };
}

/**
 * `contract.check_reply`: a backend's reply body (the contract test): an array against
 * `response_array` (elements at `response[i]`), else an object against `response`; a body that
 * does not parse (or has the other shape) is ignored.
 */
export function checkReply(req: ReqOf<M, 'contract.check_reply'>): ResOf<M, 'contract.check_reply'> {
  const entry = loadContract(req.contract, req.hash);
  if (!entry.parsed.ok) return notContract(entry)!;
  const c = entry.parsed.contract;
  const ep = c.endpoints.get(req.endpoint);
  if (!ep) return { ok: true, violations: [] };
  let body: unknown;
  try {
    body = JSON.parse(Buffer.from(req.body.buffer, req.body.byteOffset, req.body.byteLength).toString('utf8'));
  } catch {
    return { ok: true, violations: [] };
  }
  const violations: Violation[] = [];
  if (ep.response_array !== null && Array.isArray(body)) {
    const v = validatorFor(entry, req.endpoint, 'response_array', ep.response_array);
    body.forEach((item, i) => {
      if (isObject(item)) violations.push(...check(v, item, `response[${i}]`));
      else violations.push({ path: `response[${i}]`, message: 'expected object, got non-object' });
    });
  } else if (ep.response !== null && isObject(body)) {
    violations.push(...check(validatorFor(entry, req.endpoint, 'response', ep.response), body, 'response'));
  }
  return { ok: true, violations };
}

/**
 * `compliance.check`: which specs of a project are contracts, and for each the
 * endpoints that define none of request/response/response_array/query (by endpoint name).
 */
export function complianceCheck(req: ReqOf<M, 'compliance.check'>): ResOf<M, 'compliance.check'> {
  const contracts: Array<{ name: string; violations: Violation[] }> = [];
  for (const spec of req.specs) {
    const entry = loadContract(spec.data, spec.hash);
    if (!entry.parsed.ok) continue; // not a contract: skipped
    const violations: Violation[] = [];
    const keys = [...entry.parsed.contract.endpoints.keys()].sort(compareNames);
    for (const key of keys) {
      const ep = entry.parsed.contract.endpoints.get(key)!;
      const empty = (s: Section | null) => s === null || Object.keys(s).length === 0;
      if (empty(ep.request) && empty(ep.response) && empty(ep.response_array) && empty(ep.query)) {
        violations.push({ path: `endpoints.${key}`, message: 'endpoint has no request, response, or query schema defined' });
      }
    }
    contracts.push({ name: spec.name, violations });
  }
  return { contracts };
}
