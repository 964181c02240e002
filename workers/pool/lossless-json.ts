/**
 * JSON with numbers kept as their source text (JSON.parse rounds integers beyond 2^53, and Node 20
 * has no JSON.rawJSON to write them back). Input must be valid JSON; errors throw SyntaxError.
 */
export class Num {
  constructor(readonly raw: string) {}

  /** Comparison key: integers exactly (BigInt), other numbers as their double value (1.0 = 1). */
  get key(): string {
    return /^-?\d+$/.test(this.raw) ? BigInt(this.raw).toString() : String(Number(this.raw));
  }
}

export type LosslessValue = null | boolean | string | Num | LosslessValue[] | { [k: string]: LosslessValue };

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;

export function parseLossless(text: string): LosslessValue {
  let i = 0;
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++;
  };
  const fail = (): never => {
    throw new SyntaxError(`Unexpected token in JSON at position ${i}`);
  };
  const str = (): string => {
    const start = i;
    for (i++; i < text.length; i++) {
      if (text[i] === '\\') i++;
      else if (text[i] === '"') break;
    }
    if (i >= text.length) fail();
    i++;
    return JSON.parse(text.slice(start, i)) as string;
  };
  const value = (): LosslessValue => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const o: Record<string, LosslessValue> = {};
      ws();
      if (text[i] === '}') {
        i++;
        return o;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail();
        const k = str();
        ws();
        if (text[i++] !== ':') fail();
        Object.defineProperty(o, k, { value: value(), enumerable: true, writable: true, configurable: true });
        ws();
        if (text[i] === ',') i++;
        else if (text[i++] === '}') return o;
        else fail();
      }
    }
    if (c === '[') {
      i++;
      const a: LosslessValue[] = [];
      ws();
      if (text[i] === ']') {
        i++;
        return a;
      }
      for (;;) {
        a.push(value());
        ws();
        if (text[i] === ',') i++;
        else if (text[i++] === ']') return a;
        else fail();
      }
    }
    if (c === '"') return str();
    for (const [lit, v] of [['true', true], ['false', false], ['null', null]] as const) {
      if (text.startsWith(lit, i)) {
        i += lit.length;
        return v;
      }
    }
    NUMBER.lastIndex = i;
    const m = NUMBER.exec(text);
    if (!m) return fail();
    i += m[0].length;
    return new Num(m[0]);
  };
  const v = value();
  ws();
  if (i !== text.length) fail();
  return v;
}

/** Compact JSON; numbers written exactly as they were stored. */
export function stringifyLossless(v: LosslessValue | undefined): string {
  if (v instanceof Num) return v.raw;
  if (Array.isArray(v)) return `[${v.map(stringifyLossless).join(',')}]`;
  if (v !== null && typeof v === 'object') return `{${Object.keys(v).map((k) => `${JSON.stringify(k)}:${stringifyLossless(v[k])}`).join(',')}}`;
  return JSON.stringify(v) ?? 'null';
}
