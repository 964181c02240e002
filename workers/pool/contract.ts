import { Ajv, type ErrorObject, type SchemaObject, type ValidateFunction } from 'ajv';
import type { ReqOf, ResOf } from '../../schemas/rpc/envelope.js';
import type { ContractViolation, PoolMethods } from '../../schemas/rpc/pool.js';

/**
 * API contracts (SPEC §2.9, §2.10, §7-10), checked on the pool: a contract's field format is
 * compiled to JSON Schema and validated by ajv; ajv's errors are mapped to the original's
 * violation messages and paths, in a deterministic order. Compiled validators are cached per
 * contract hash in each worker thread (bounded LRU).
 */

type M = PoolMethods;
type Violation = ContractViolation;

/** A Field of the contract format (SPEC §2.9); JSON nulls are read as absent (Go zero values). */
interface Field {
  type: string;
  required: boolean;
  nullable: boolean;
  enum: string[];
  /** Present (possibly empty) = children are checked; null = not. */
  fields: Record<string, Field> | null;
  items: Field | null;
}

type Section = Record<string, Field>;

interface Endpoint {
  query: Section | null;
  request: Section | null;
  response: Section | null;
  response_array: Section | null;
  /** 0 = no constraint. */
  response_status: number;
  error: Section | null;
}

export interface Contract {
  /** Endpoint keys in the order they appear in the stored JSON. */
  endpoints: Map<string, Endpoint>;
}

/** The directions a payload may be validated as, and the section each reads. */
const DIRECTIONS = ['request', 'response', 'query', 'error'] as const;
type Direction = (typeof DIRECTIONS)[number];

/** Contract types → JSON Schema types; anything else is an "unknown type" (`""` = any). */
const KNOWN_TYPES: Readonly<Record<string, string>> = { string: 'string', number: 'number', boolean: 'boolean', object: 'object', array: 'array' };

/** Compiled validators kept per worker thread (contracts, each with its compiled sections). */
export const CONTRACT_CACHE_MAX = 256;

// ---------------------------------------------------------------------------------------------
// The ajv instance. `contract` is an annotation keyword (no validation) carrying what the error
// mapping needs: the field's declared type and whether the node is an array element.

interface Note {
  /** The contract's declared type, as written. */
  type: string;
  element: boolean;
}

/**
 * One ajv instance per cached contract: ajv keeps internal state for every schema it compiled
 * (removeSchema does not free it all), so evicting a contract drops its instance whole.
 */
function newAjv(): Ajv {
  const ajv = new Ajv({
    allErrors: true,
    // Errors carry the failing value and the schema node (with its `contract` note).
    verbose: true,
    // `toString`, `constructor`… in a payload are members only when the payload has them.
    ownProperties: true,
    allowUnionTypes: true,
    strictTypes: false,
  });
  ajv.addKeyword({ keyword: 'contract', schemaType: 'object' });
  return ajv;
}

// ---------------------------------------------------------------------------------------------
// Parsing (Go json.Unmarshal into the Contract struct, then the kind/endpoints checks)

/** The shape Go's decoder accepts: wrong JSON types are errors, nulls are zero values, unknown members ignored. */
const nullable = (t: string | string[]) => ({ type: [...(Array.isArray(t) ? t : [t]), 'null'] });
const SHAPE: SchemaObject = {
  $id: 'koor-contract-shape',
  definitions: {
    field: {
      ...nullable('object'),
      properties: {
        type: nullable('string'),
        required: nullable('boolean'),
        nullable: nullable('boolean'),
        enum: { ...nullable('array'), items: nullable('string') },
        fields: { $ref: '#/definitions/section' },
        items: { $ref: '#/definitions/field' },
      },
    },
    section: { ...nullable('object'), additionalProperties: { $ref: '#/definitions/field' } },
  },
  ...nullable('object'),
  properties: {
    kind: nullable('string'),
    version: nullable('integer'),
    endpoints: {
      ...nullable('object'),
      additionalProperties: {
        ...nullable('object'),
        properties: {
          query: { $ref: '#/definitions/section' },
          request: { $ref: '#/definitions/section' },
          response: { $ref: '#/definitions/section' },
          response_array: { $ref: '#/definitions/section' },
          response_status: nullable('integer'),
          error: { $ref: '#/definitions/section' },
        },
      },
    },
  },
};
// A separate instance: the shape check wants the first error only.
const checkShape = new Ajv({ allErrors: false, ownProperties: true, allowUnionTypes: true, strictTypes: false }).compile(SHAPE);

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
const isObject = (v: unknown): v is { [k: string]: Json } => v !== null && typeof v === 'object' && !Array.isArray(v);

function toField(v: Json | undefined): Field {
  const o = isObject(v) ? v : {};
  return {
    type: typeof o.type === 'string' ? o.type : '',
    required: o.required === true,
    nullable: o.nullable === true,
    enum: Array.isArray(o.enum) ? o.enum.map((e) => (typeof e === 'string' ? e : '')) : [],
    fields: isObject(o.fields) ? toSection(o.fields) : null,
    items: isObject(o.items) ? toField(o.items) : null,
  };
}

function toSection(v: Json | undefined): Section | null {
  if (!isObject(v)) return null;
  return Object.fromEntries(Object.keys(v).map((k) => [k, toField(v[k])]));
}

/** `a.b[0].c` from a JSON pointer into `root` (array steps as indexes). */
function pointerPath(root: unknown, pointer: string, start = ''): string {
  let path = start;
  let cur: unknown = root;
  for (const seg of splitPointer(pointer)) {
    if (Array.isArray(cur)) {
      path += `[${seg}]`;
      cur = cur[Number(seg)];
    } else {
      path = path === '' ? seg : `${path}.${seg}`;
      cur = isObject(cur) ? cur[seg] : undefined;
    }
  }
  return path;
}

function splitPointer(pointer: string): string[] {
  return pointer === '' ? [] : pointer.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function jsonTypeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v === 'object' ? 'object' : typeof v;
}

/** Parses stored spec bytes as a contract, or returns the reason it is not one (SPEC §2.9 wording). */
export function parseContract(bytes: Uint8Array): { ok: true; contract: Contract } | { ok: false; reason: string } {
  let doc: Json;
  try {
    doc = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8')) as Json;
  } catch (e) {
    return { ok: false, reason: `invalid contract JSON: ${(e as Error).message}` };
  }
  if (!checkShape(doc)) {
    const err = checkShape.errors![0]!;
    const at = pointerPath(doc, err.instancePath);
    const want = ([] as string[]).concat(err.params.type as string | string[]).filter((t) => t !== 'null').join(' or ');
    const got = jsonTypeName(err.data ?? valueAt(doc, err.instancePath));
    return { ok: false, reason: `invalid contract JSON: ${at === '' ? '' : `${at}: `}expected ${want}, got ${got}` };
  }
  const o = isObject(doc) ? doc : {};
  const kind = typeof o.kind === 'string' ? o.kind : '';
  if (kind !== 'contract') return { ok: false, reason: `expected kind "contract", got ${JSON.stringify(kind)}` };
  const eps = isObject(o.endpoints) ? o.endpoints : {};
  const endpoints = new Map<string, Endpoint>();
  for (const key of Object.keys(eps)) {
    const e = isObject(eps[key]) ? eps[key] : {};
    endpoints.set(key, {
      query: toSection(e.query),
      request: toSection(e.request),
      response: toSection(e.response),
      response_array: toSection(e.response_array),
      response_status: typeof e.response_status === 'number' ? e.response_status : 0,
      error: toSection(e.error),
    });
  }
  if (endpoints.size === 0) return { ok: false, reason: 'contract has no endpoints' };
  return { ok: true, contract: { endpoints } };
}

function valueAt(root: unknown, pointer: string): unknown {
  let cur = root;
  for (const seg of splitPointer(pointer)) cur = Array.isArray(cur) ? cur[Number(seg)] : isObject(cur) ? cur[seg] : undefined;
  return cur;
}

// ---------------------------------------------------------------------------------------------
// Compiling the field format to JSON Schema
//
// Each field node accepts null in its `type` (so a null is never a type error) and rejects it
// with `not: {type: null}` unless nullable: a null yields exactly one error, and nothing deeper
// runs (properties/items apply to objects/arrays only). An unknown contract type compiles to
// `type: null`, so any present value fails the type check and the mapping names the unknown type.
// `enum` binds only strings (`if string then enum`), and only where a passing type can be a
// string (`string` and `""`): a wrong type never also reports the enum.

/** The schema of an object's members (a section, or an object field's `fields`). */
function objectSchema(section: Section, note?: Note): SchemaObject {
  const names = Object.keys(section);
  return {
    // A field node (with its note) also admits null (rejected by `not` unless nullable); a
    // section is always an object.
    ...(note ? { contract: note, type: ['object', 'null'] } : { type: 'object' }),
    properties: Object.fromEntries(names.map((n) => [n, fieldSchema(section[n]!, false)])),
    required: names.filter((n) => section[n]!.required),
    additionalProperties: false,
  };
}

function fieldSchema(f: Field, element: boolean): SchemaObject {
  const note: Note = { type: f.type, element };
  const jsonType = Object.hasOwn(KNOWN_TYPES, f.type) ? KNOWN_TYPES[f.type]! : null;
  let s: SchemaObject;
  if (f.type === '') s = { contract: note };
  else if (jsonType === null) s = { contract: note, type: 'null' };
  else if (f.type === 'object' && f.fields !== null) s = objectSchema(f.fields, note);
  else s = { contract: note, type: [jsonType, 'null'] };
  // Array elements: checked for null and type; recursed into only when objects (SPEC §2.9).
  if (f.type === 'array' && f.items !== null && !element) s.items = fieldSchema(f.items, true);
  if (!f.nullable) s.not = { type: 'null' };
  // Elements are not enum-checked (the original skips it there).
  if (!element && f.enum.length > 0 && (f.type === 'string' || f.type === '')) s.if = { type: 'string' };
  if (s.if) s.then = { enum: f.enum };
  return s;
}

// ---------------------------------------------------------------------------------------------
// Mapping ajv errors to violations, in SPEC §7-10 order

/** One step of a violation's place: an unknown member (rank 0), a schema field (1), an element (index). */
type Step = { rank: 0 | 1; name: string } | { index: number };

interface Ranked {
  steps: Step[];
  v: Violation;
}

/** Go type names of a decoded JSON value (`%T`). */
export function goType(v: unknown): string {
  if (typeof v === 'string') return 'string';
  if (typeof v === 'number') return 'float64';
  if (typeof v === 'boolean') return 'bool';
  if (Array.isArray(v)) return '[]interface {}';
  if (v === null) return '<nil>';
  return 'map[string]interface {}';
}

/** Go's sort.Strings order: by UTF-8 bytes, which is code point order. */
function compareNames(a: string, b: string): number {
  if (a === b) return 0;
  const ia = a[Symbol.iterator]();
  const ib = b[Symbol.iterator]();
  for (;;) {
    const x = ia.next();
    const y = ib.next();
    if (x.done) return y.done ? 0 : -1;
    if (y.done) return 1;
    const d = x.value.codePointAt(0)! - y.value.codePointAt(0)!;
    if (d !== 0) return d;
  }
}

function compareSteps(a: Step[], b: Step[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = a[i]!;
    const y = b[i]!;
    const d = 'index' in x ? x.index - (y as { index: number }).index : x.rank - (y as { rank: number }).rank || compareNames(x.name, (y as { name: string }).name);
    if (d !== 0) return d;
  }
  // A field's own violation comes before the ones inside it (depth-first).
  return a.length - b.length;
}

const q = (s: string): string => JSON.stringify(s);

/** Steps and the printed path of the value at `pointer` in `data`, below `base`. */
function locate(data: unknown, pointer: string, base: string): { steps: Step[]; path: string } {
  const steps: Step[] = [];
  let path = base;
  let cur = data;
  for (const seg of splitPointer(pointer)) {
    if (Array.isArray(cur)) {
      steps.push({ index: Number(seg) });
      path += `[${seg}]`;
      cur = cur[Number(seg)];
    } else {
      steps.push({ rank: 1, name: seg });
      path += `.${seg}`;
      cur = isObject(cur) ? cur[seg] : undefined;
    }
  }
  return { steps, path };
}

function mapError(e: ErrorObject, data: unknown, base: string): Ranked | null {
  const at = locate(data, e.instancePath, base);
  const note = (e.parentSchema as { contract?: Note } | undefined)?.contract;
  switch (e.keyword) {
    case 'additionalProperties': {
      const k = String(e.params.additionalProperty);
      const known = Object.keys((e.parentSchema as { properties: object }).properties).sort(compareNames);
      return { steps: [...at.steps, { rank: 0, name: k }], v: { path: `${at.path}.${k}`, message: `unexpected field ${q(k)} (contract defines: ${known.join(', ')})` } };
    }
    case 'required': {
      const f = String(e.params.missingProperty);
      return { steps: [...at.steps, { rank: 1, name: f }], v: { path: `${at.path}.${f}`, message: `missing required field ${q(f)}` } };
    }
    case 'not': {
      const last = splitPointer(e.instancePath).at(-1) ?? '';
      return { steps: at.steps, v: { path: at.path, message: note?.element ? 'array element is null but not nullable' : `field ${q(last)} is null but not nullable` } };
    }
    case 'type': {
      const declared = note?.type ?? '';
      const message = Object.hasOwn(KNOWN_TYPES, declared) ? `expected ${declared}, got ${goType(e.data)}` : `unknown type ${q(declared)} in contract schema`;
      return { steps: at.steps, v: { path: at.path, message } };
    }
    case 'enum':
      return { steps: at.steps, v: { path: at.path, message: `value ${q(String(e.data))} not in allowed enum: [${(e.schema as string[]).join(', ')}]` } };
    case 'if':
      return null; // the enum error beside it says it all
    default:
      return { steps: at.steps, v: { path: at.path, message: e.message ?? e.keyword } };
  }
}

/** Runs a compiled section validator on an object and returns its violations in order. */
function check(validate: ValidateFunction, data: unknown, base: string): Violation[] {
  if (validate(data)) return [];
  const ranked: Ranked[] = [];
  for (const e of validate.errors ?? []) {
    const r = mapError(e, data, base);
    if (r) ranked.push(r);
  }
  ranked.sort((a, b) => compareSteps(a.steps, b.steps));
  return ranked.map((r) => r.v);
}

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
export function loadContract(bytes: Uint8Array, hash: string): Entry {
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

/** validatePayload (SPEC §2.9): one payload object against one endpoint's section. */
export function validatePayload(entry: Entry, c: Contract, endpoint: string, direction: string, payload: unknown): Violation[] {
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
 * `contract.check_reply`: a backend's reply body (SPEC §2.9 test): an array against
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
 * `compliance.check` (SPEC §2.10): which specs of a project are contracts, and for each the
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
