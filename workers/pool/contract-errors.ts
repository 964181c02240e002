import type { ErrorObject, ValidateFunction } from 'ajv';
import type { ContractViolation } from '../../schemas/rpc/pool.js';
import { isObject, splitPointer } from './contract-parse.js';
import { KNOWN_TYPES, type Note } from './contract-schema.js';

/** Mapping ajv errors to the original's contract violations, in its order. */

type Violation = ContractViolation;

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
export function compareNames(a: string, b: string): number {
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

/** A string as Go's %q prints it (near enough for the names and values in messages). */
export const q = (s: string): string => JSON.stringify(s);

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
export function check(validate: ValidateFunction, data: unknown, base: string): Violation[] {
  if (validate(data)) return [];
  const ranked: Ranked[] = [];
  for (const e of validate.errors ?? []) {
    const r = mapError(e, data, base);
    if (r) ranked.push(r);
  }
  ranked.sort((a, b) => compareSteps(a.steps, b.steps));
  return ranked.map((r) => r.v);
}
