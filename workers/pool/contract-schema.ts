import { Ajv, type SchemaObject } from 'ajv';
import type { Field, Section } from './contract-parse.js';

/** Contract types → JSON Schema types; anything else is an "unknown type" (`""` = any). */
export const KNOWN_TYPES: Readonly<Record<string, string>> = { string: 'string', number: 'number', boolean: 'boolean', object: 'object', array: 'array' };

// ---------------------------------------------------------------------------------------------
// The ajv instance. `contract` is an annotation keyword (no validation) carrying what the error
// mapping needs: the field's declared type and whether the node is an array element.

export interface Note {
  /** The contract's declared type, as written. */
  type: string;
  element: boolean;
}

/**
 * One ajv instance per cached contract: ajv keeps internal state for every schema it compiled
 * (removeSchema does not free it all), so evicting a contract drops its instance whole.
 */
export function newAjv(): Ajv {
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
// Compiling the field format to JSON Schema
//
// Each field node accepts null in its `type` (so a null is never a type error) and rejects it
// with `not: {type: null}` unless nullable: a null yields exactly one error, and nothing deeper
// runs (properties/items apply to objects/arrays only). An unknown contract type compiles to
// `type: null`, so any present value fails the type check and the mapping names the unknown type.
// `enum` binds only strings (`if string then enum`), and only where a passing type can be a
// string (`string` and `""`): a wrong type never also reports the enum.

/** The schema of an object's members (a section, or an object field's `fields`). */
export function objectSchema(section: Section, note?: Note): SchemaObject {
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
  // Array elements: checked for null and type; recursed into only when objects.
  if (f.type === 'array' && f.items !== null && !element) s.items = fieldSchema(f.items, true);
  if (!f.nullable) s.not = { type: 'null' };
  // Elements are not enum-checked (the original skips it there).
  if (!element && f.enum.length > 0 && (f.type === 'string' || f.type === '')) s.if = { type: 'string' };
  if (s.if) s.then = { enum: f.enum };
  return s;
}
