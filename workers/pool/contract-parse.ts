import { Ajv, type SchemaObject } from 'ajv';

/**
 * The contract format and its parsing: stored spec bytes read as Go's json.Unmarshal
 * into the Contract struct would read them, then the kind/endpoints checks. Also the JSON-pointer
 * helpers the error mapping shares.
 */

/** A Field of the contract format; JSON nulls are read as absent (Go zero values). */
export interface Field {
  type: string;
  required: boolean;
  nullable: boolean;
  enum: string[];
  /** Present (possibly empty) = children are checked; null = not. */
  fields: Record<string, Field> | null;
  items: Field | null;
}

export type Section = Record<string, Field>;

export interface Endpoint {
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

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export const isObject = (v: unknown): v is { [k: string]: Json } => v !== null && typeof v === 'object' && !Array.isArray(v);

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

export function splitPointer(pointer: string): string[] {
  return pointer === '' ? [] : pointer.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function jsonTypeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v === 'object' ? 'object' : typeof v;
}

/** Parses stored spec bytes as a contract, or returns the reason it is not one (in the original's wording). */
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
