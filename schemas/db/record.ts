import { Type, type Static, type TArray, type TBoolean, type TNull, type TObject, type TOptional, type TSchema, type TUnion } from '../typebox.js';
import { Instant } from '../http/common.js';
import { Bytes } from '../rpc/envelope.js';
import type { Param } from './sql.js';
import type { Column, Table } from './table.js';
import { toRfc3339, toStorage } from './time.js';

/**
 * A record declared once: each field says what its column is (the table and both dialects' DDL
 * come from it: schemas/db/table.ts), what the writer's row holds, and what a reply shows. From the
 * one declaration come the table, the writer row's schema and type, the reply's schema (what the
 * API documents) and a compiled reply writer, so a field is added in one place.
 *
 * How a stored value reaches a reply (`form`):
 * - `value`: as it is (text, integer, real);
 * - `time`: storage text in the row, RFC 3339 in the reply (`Instant`);
 * - `raw`: JSON text kept as sent, spliced into the reply (any JSON);
 * - `json`: JSON text in the table, decoded in the row (a list), the same in the reply;
 * - `bool`: 0 or 1 in the table, a boolean in the row and the reply;
 * - `ms`: an instant as epoch ms in the table and the row (0: none), RFC 3339 in the reply (`""`: none);
 * - `bytes`: stored bytes, never in a JSON reply (declare it `hidden`);
 * - `ref`: the id of another row, 0 for none in the table and the row, null in the reply.
 */
export type Form = 'value' | 'time' | 'raw' | 'json' | 'bool' | 'ms' | 'bytes' | 'ref';

export interface Field<R extends TSchema = TSchema, W extends TSchema | null = TSchema | null, N extends string | undefined = string | undefined, I extends TSchema | undefined = TSchema | undefined> {
  column: Column;
  form: Form;
  /** The writer row's value. */
  row: R;
  /** The reply's; null: kept off the wire. */
  wire: W;
  /** Its name in a reply, when not the column's. */
  wireName: N;
  /** Set by whoever creates the record: what a create request may send for it (absent: the column's default). */
  input: I;
  /** Left out of a reply when it is '' (`omitEmpty`). */
  omitEmpty?: true;
}

type ColumnOpts = Omit<Column, 'type' | 'nullable'>;

const field = <R extends TSchema, W extends TSchema = R>(column: Column, form: Form, row: R, wire?: W): Field<R, W, undefined, undefined> => ({ column, form, row, wire: (wire ?? row) as W, wireName: undefined, input: undefined });

/** The columns a record's fields may be. */
export const f = {
  int: (c: ColumnOpts = {}) => field({ type: 'int', ...c }, 'value', Type.Integer()),
  real: (c: ColumnOpts = {}) => field({ type: 'real', ...c }, 'value', Type.Number()),
  text: (c: ColumnOpts = {}) => field({ type: 'text', ...c }, 'value', Type.String()),
  /** Storage text `YYYY-MM-DD HH:MM:SS`; an `Instant` in replies. */
  time: (c: ColumnOpts = {}) => field({ type: 'text', ...c }, 'time', Type.String(), Instant),
  /** Any JSON, kept as the JSON text sent (`null` by default). */
  raw: (c: ColumnOpts = {}) => field({ type: 'text', default: "'null'", ...c }, 'raw', Type.String(), Type.Unknown()),
  /** A list stored as JSON text (`[]` by default), decoded in the row. */
  list: <S extends TSchema>(items: S, c: ColumnOpts = {}) => field({ type: 'text', default: "'[]'", ...c }, 'json', Type.Array(items)),
  bool: (c: ColumnOpts = {}) => field({ type: 'int', ...c }, 'bool', Type.Boolean()),
  /** An instant as epoch ms, 0 for none (a TTL's end); RFC 3339 in replies, `""` for none. */
  ms: (c: ColumnOpts = {}) => field({ type: 'int', default: 0, ...c }, 'ms', Type.Integer(), Type.String()),
  /** Bytes as stored (a BLOB, PostgreSQL's bytea). */
  bytes: (c: ColumnOpts = {}) => field({ type: 'blob', ...c }, 'bytes', Bytes),
  /** The id of another row, 0 for none (the column stays NOT NULL); null in replies. */
  ref: (c: ColumnOpts = {}) => field({ type: 'int', default: 0, ...c }, 'ref', Type.Integer(), Type.Union([Type.Integer(), Type.Null()])),
};

/** `x` may be NULL (every column is NOT NULL otherwise): its row and its reply may be null. */
export const nullable = <R extends TSchema, W extends TSchema>(x: Field<R, W, undefined, undefined>): Field<TUnion<[R, TNull]>, TUnion<[W, TNull]>, undefined, undefined> => ({
  ...x,
  column: { ...x.column, nullable: true },
  row: Type.Union([x.row, Type.Null()]),
  wire: Type.Union([x.wire, Type.Null()]),
}) as Field<TUnion<[R, TNull]>, TUnion<[W, TNull]>, undefined, undefined>;
/** `x` set by the record's creator, who may send `schema` for it (by default the reply's). */
export const input = <R extends TSchema, W extends TSchema | null, N extends string | undefined>(x: Field<R, W, N, undefined>, schema?: TSchema): Field<R, W, N, TSchema> => ({ ...x, input: schema ?? x.wire ?? x.row });
/** `x` kept out of replies (a server-side detail). */
export const hidden = <R extends TSchema, W extends TSchema>(x: Field<R, W, undefined, undefined>): Field<R, null, undefined, undefined> => ({ ...x, wire: null });
/** `x` shown in replies as `schema` (a narrower type: an enum of the values the column holds). */
export const shown = <R extends TSchema, W extends TSchema>(x: Field<R, TSchema, undefined, undefined>, schema: W): Field<R, W, undefined, undefined> => ({ ...x, wire: schema });
/** `x`, a text column, left out of a reply when it is '' (replies that never showed an empty one). */
export const omitEmpty = <R extends TSchema, W extends TSchema>(x: Field<R, W, undefined, undefined>): Field<R, TOptional<W>, undefined, undefined> => ({ ...x, wire: Type.Optional(x.wire) as TOptional<W>, omitEmpty: true });
/** `x` named `name` in replies. */
export const named = <N extends string, R extends TSchema, W extends TSchema>(name: N, x: Field<R, W, undefined, undefined>): Field<R, W, N, undefined> => ({ ...x, wireName: name });

type Fields = Record<string, Field>;
/** What the table declares besides its columns; `replyOrder`: every field once, in the order replies show them, when not the columns' order. */
type RecordOpts<F extends Fields> = Omit<Table, 'name' | 'columns'> & { replyOrder?: ReadonlyArray<keyof F & string> };
type RowProps<F extends Fields> = { [K in keyof F]: F[K]['row'] };
type CreateProps<F extends Fields> = { [K in keyof F as F[K]['input'] extends TSchema ? K : never]: F[K]['row'] };
type WireProps<F extends Fields> = {
  [K in keyof F as F[K]['wire'] extends null ? never : F[K]['wireName'] extends string ? F[K]['wireName'] : K]: Exclude<F[K]['wire'], null>;
};
/** What a reply is written from: the row's shown fields (a whole row will do). */
type Shown<F extends Fields> = { [K in keyof F as F[K]['wire'] extends null ? never : K]: Static<F[K]['row']> };
/** A row as the database returns it: lists still JSON text, booleans 0 or 1. */
type DbRow<F extends Fields> = { [K in keyof F]: F[K]['row'] extends TArray ? string : F[K]['row'] extends TBoolean ? number : Static<F[K]['row']> };

export interface RecordDecl<F extends Fields> {
  fields: F;
  table: Table;
  /** The writer's row: lists decoded, times storage text, raw JSON text. */
  Row: TObject<RowProps<F>>;
  /** A reply's: times RFC 3339, raw JSON any value, hidden fields left out. */
  Wire: TObject<WireProps<F>>;
  /** The fields in the order replies show them. */
  replyOrder: readonly string[];
  /** The columns, comma-separated, in declared order (a SELECT list). */
  columns: string;
  /** The fields a create request sets (`input`), in declared order. */
  inputs: readonly string[];
  /** A create request's body: each input optional (null: its default). */
  Body: TObject;
  /** What the writer is given to create one: each input's row value, defaults applied. */
  Create: TObject<CreateProps<F>>;
  /** A create's values in `inputs` order, as the columns store them (lists as JSON text). */
  values(c: Readonly<Record<string, unknown>>): Param[];
  /** The column default of input `name` as a value (its SQL literal read: `'[]'` is [], `'null'` raw JSON text); undefined when it has none. */
  defaultOf(name: string): unknown;
  /** A database row as the writer's row. */
  decode(r: DbRow<F>): Static<TObject<RowProps<F>>>;
  /** The reply's JSON text of a row, by a writer compiled from the declaration. */
  json(r: Shown<F>): string;
  /** The reply of a row as a value (for a reply that nests it in one built as a value). */
  wire(r: Shown<F>): Static<TObject<WireProps<F>>>;
}

/** The record `name`: its fields, and what its table declares besides its columns. */
export function record<F extends Fields>(name: string, fields: F, opts: RecordOpts<F> = {}): RecordDecl<F> {
  const { replyOrder, ...table } = opts;
  const entries = Object.entries(fields);
  const replied = replyOrder === undefined ? entries : inOrder(name, fields, replyOrder);
  const columns: Record<string, Column> = {};
  const row: Record<string, TSchema> = {};
  const wire: Record<string, TSchema> = {};
  for (const [k, x] of entries) {
    if (x.form === 'bytes' && x.wire !== null) throw new Error(`${name}.${k}: bytes have no JSON form; declare it hidden`);
    columns[k] = x.column;
    row[k] = x.row;
  }
  for (const [k, x] of replied) if (x.wire !== null) wire[x.wireName ?? k] = x.wire;
  const inputs = entries.filter(([, x]) => x.input !== undefined) as Array<[string, Field<TSchema, TSchema | null, string | undefined, TSchema>]>;
  const body: Record<string, TSchema> = {};
  const create: Record<string, TSchema> = {};
  // Read once: a create asks for them for every field it was not sent.
  const defaults = new Map(inputs.map(([k, x]) => [k, columnDefault(x)]));
  for (const [k, x] of inputs) {
    body[k] = Type.Optional(x.input);
    create[k] = x.row;
  }
  return {
    inputs: inputs.map(([k]) => k),
    Body: Type.Object(body),
    Create: Type.Object(create) as TObject<CreateProps<F>>,
    values: (c) => inputs.map(([k, x]) => (x.form === 'json' ? JSON.stringify(c[k]) : x.form === 'bool' ? (c[k] === true ? 1 : 0) : (c[k] as Param))),
    defaultOf: (name) => defaults.get(name),
    fields,
    table: { name, columns, ...table },
    Row: Type.Object(row) as TObject<RowProps<F>>,
    Wire: Type.Object(wire) as unknown as TObject<WireProps<F>>,
    replyOrder: replied.map(([k]) => k),
    columns: Object.keys(columns).join(', '),
    decode: decoder(entries) as RecordDecl<F>['decode'],
    json: compileWriter(replied) as RecordDecl<F>['json'],
    wire: compileWire(replied) as RecordDecl<F>['wire'],
  };
}

/** The fields in the order replies show them: `order` names each once. */
function inOrder(name: string, fields: Fields, order: readonly string[]): Array<[string, Field]> {
  const seen = new Set(order);
  if (seen.size !== order.length || seen.size !== Object.keys(fields).length || !order.every((k) => k in fields)) throw new Error(`record ${name}: replyOrder must name every field once`);
  return order.map((k) => [k, fields[k]!]);
}

/** What a record's reads and replies use: a record without its table and create inputs. */
export type RecordView<F extends Fields> = Pick<RecordDecl<F>, 'fields' | 'Row' | 'Wire' | 'columns' | 'decode' | 'json' | 'wire'>;

/**
 * The record without fields `keys`, for a read that leaves their columns out (a list without a
 * large value, rows that must not carry a secret): its row, its reply, and their codecs.
 */
export function omit<F extends Fields, K extends keyof F & string>(r: RecordDecl<F>, ...keys: K[]): RecordView<Omit<F, K>> {
  const kept = (k: string): boolean => !(keys as string[]).includes(k);
  const left = Object.entries(r.fields).filter(([k]) => kept(k));
  return record(r.table.name, Object.fromEntries(left) as Omit<F, K>, { replyOrder: r.replyOrder.filter(kept) as Array<keyof Omit<F, K> & string> });
}

function columnDefault(x: Field): unknown {
  const d = x.column.default;
  if (d === undefined || typeof d === 'number') return d;
  const text = d.replace(/^'|'$/g, '').replace(/''/g, "'");
  // Frozen: every create without the field shares this one value.
  return x.form === 'json' ? Object.freeze(JSON.parse(text)) : text;
}

/**
 * The row decoder: the record's fields only (a query's other columns, such as a join's or an
 * index's sort key, stay out of the row the writer returns), lists parsed, booleans made so.
 */
function decoder(entries: ReadonlyArray<[string, Field]>): (r: Record<string, unknown>) => Record<string, unknown> {
  const props = entries.map(([k, x]) => {
    const v = `r[${JSON.stringify(k)}]`;
    const value = x.form === 'json' ? `JSON.parse(${v})` : x.form === 'bool' ? `(${v} === 1 || ${v} === true)` : v;
    return `${JSON.stringify(k)}: ${value}`;
  });
  return new Function(`return function (r) { return { ${props.join(', ')} }; };`)() as (r: Record<string, unknown>) => Record<string, unknown>;
}

/** An epoch-ms instant as a reply shows it: RFC 3339, `""` for none (0). */
const msText = (ms: number): string => (ms > 0 ? toRfc3339(toStorage(ms)) : '');

/**
 * The reply writer: one function that concatenates the JSON text of a row in declared order
 * (strings escaped by JSON.stringify, numbers as they are, raw JSON spliced, times converted),
 * as fast as the template each reply was once written by hand with.
 */
function compileWriter(entries: ReadonlyArray<[string, Field]>): (r: unknown) => string {
  const parts: string[] = [];
  for (const [k, x] of entries) {
    if (x.wire === null) continue;
    const v = `r[${JSON.stringify(k)}]`;
    let text: string;
    if (x.form === 'raw') text = v;
    else if (x.form === 'bool') text = `(${v} ? 'true' : 'false')`;
    else if (x.form === 'ms') text = `'"' + m(${v}) + '"'`;
    else if (x.form === 'ref') text = `(${v} === 0 ? 'null' : '' + ${v})`;
    else if (x.form === 'time') text = `'"' + t(${v}) + '"'`;
    else if (x.form === 'value' && isEnum(x.wire)) text = `'"' + ${v} + '"'`;
    else if (x.form === 'json' || x.column.type === 'text') text = `JSON.stringify(${v})`;
    else text = `('' + ${v})`;
    if (x.column.nullable && (x.form === 'time' || (x.form === 'value' && x.column.type !== 'text'))) text = `(${v} === null ? 'null' : ${text})`;
    const member = `${JSON.stringify(`${parts.length === 0 ? '{' : ','}${JSON.stringify(x.wireName ?? k)}:`)} + ${text}`;
    // The first member opens the object, so it is always there.
    if (x.omitEmpty && parts.length === 0) throw new Error(`${k}: the first member of a reply cannot be left out`);
    parts.push(x.omitEmpty ? `(${v} === '' ? '' : ${member})` : member);
  }
  if (parts.length === 0) return () => '{}';
  return new Function('t', 'm', `return function (r) { return ${parts.join(' + ')} + '}'; };`)(toRfc3339, msText) as (r: unknown) => string;
}

/** The reply as a value: one object literal per row, compiled like the JSON writer. */
function compileWire(entries: ReadonlyArray<[string, Field]>): (r: unknown) => unknown {
  const props: string[] = [];
  for (const [k, x] of entries) {
    if (x.wire === null) continue;
    const v = `r[${JSON.stringify(k)}]`;
    let value = v;
    if (x.form === 'raw') value = `JSON.parse(${v})`;
    else if (x.form === 'ms') value = `m(${v})`;
    else if (x.form === 'ref') value = `(${v} === 0 ? null : ${v})`;
    else if (x.form === 'time') value = x.column.nullable ? `(${v} === null ? null : t(${v}))` : `t(${v})`;
    const member = `${JSON.stringify(x.wireName ?? k)}: ${value}`;
    props.push(x.omitEmpty ? `...(${v} === '' ? {} : { ${member} })` : member);
  }
  return new Function('t', 'm', `return function (r) { return { ${props.join(', ')} }; };`)(toRfc3339, msText) as (r: unknown) => unknown;
}

/** A schema of named values only (`"ready"`, `"done"`…): the column holds nothing a JSON string must escape. */
function isEnum(s: TSchema): boolean {
  const any = (s as { anyOf?: Array<{ const?: unknown }> }).anyOf;
  return any !== undefined && any.every((x) => typeof x.const === 'string' && /^[\w.-]*$/.test(x.const));
}
