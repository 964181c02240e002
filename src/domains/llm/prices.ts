import fs from 'node:fs';

/**
 * The price table: USD per million tokens by model, for records that come without a
 * cost. The defaults are the providers' published list prices as of PRICES_AS_OF (standard tier,
 * no batch discount, 5-minute cache writes); an operator changes or adds models with a JSON file
 * (`--llm-prices`), read again when it changes, so a change applies to the records that follow
 * and never to those already stored. A model matches its longest listed prefix
 * (`claude-sonnet-4-5-20250929` → `claude-sonnet-4-5`); a model that matches none has no price:
 * its tokens are recorded and its cost said to be unknown, never a silent 0.
 */
export const PRICES_AS_OF = '2025-11-01';

export interface Price {
  /** Input tokens not read from or written to a cache. */
  input: number;
  output: number;
  /** Tokens written to the prompt cache (Anthropic; OpenAI has no write charge: its input price). */
  cache_write: number;
  /** Tokens read from the prompt cache (Anthropic's cache reads, OpenAI's cached input). */
  cache_read: number;
}

const p = (input: number, output: number, cache_write: number, cache_read: number): Price => ({ input, output, cache_write, cache_read });

export const DEFAULT_PRICES: Readonly<Record<string, Price>> = {
  // Anthropic (anthropic.com/pricing)
  'claude-opus-4-5': p(5, 25, 6.25, 0.5),
  'claude-opus-4-1': p(15, 75, 18.75, 1.5),
  'claude-opus-4': p(15, 75, 18.75, 1.5),
  'claude-sonnet-4-5': p(3, 15, 3.75, 0.3),
  'claude-sonnet-4': p(3, 15, 3.75, 0.3),
  'claude-3-7-sonnet': p(3, 15, 3.75, 0.3),
  'claude-3-5-sonnet': p(3, 15, 3.75, 0.3),
  'claude-haiku-4-5': p(1, 5, 1.25, 0.1),
  'claude-3-5-haiku': p(0.8, 4, 1, 0.08),
  'claude-3-haiku': p(0.25, 1.25, 0.3, 0.03),
  'claude-3-opus': p(15, 75, 18.75, 1.5),
  // OpenAI (openai.com/api/pricing)
  'gpt-5': p(1.25, 10, 1.25, 0.125),
  'gpt-5-mini': p(0.25, 2, 0.25, 0.025),
  'gpt-5-nano': p(0.05, 0.4, 0.05, 0.005),
  'gpt-4.1': p(2, 8, 2, 0.5),
  'gpt-4.1-mini': p(0.4, 1.6, 0.4, 0.1),
  'gpt-4.1-nano': p(0.1, 0.4, 0.1, 0.025),
  'gpt-4o': p(2.5, 10, 2.5, 1.25),
  'gpt-4o-mini': p(0.15, 0.6, 0.15, 0.075),
  o3: p(2, 8, 2, 0.5),
  'o4-mini': p(1.1, 4.4, 1.1, 0.275),
  // Google (ai.google.dev/gemini-api/docs/pricing; prompts up to 200k tokens; no charge to write the cache)
  'gemini-2.5-pro': p(1.25, 10, 1.25, 0.31),
  'gemini-2.5-flash': p(0.3, 2.5, 0.3, 0.075),
  'gemini-2.5-flash-lite': p(0.1, 0.4, 0.1, 0.025),
};

/** A model name as providers and gateways spell it → the table's: lower case, without `anthropic.`, `us.`, `openai/` and such. */
export function modelKey(model: string): string {
  let m = model.trim().toLowerCase();
  const slash = m.lastIndexOf('/');
  if (slash >= 0) m = m.slice(slash + 1);
  const dot = m.indexOf('anthropic.');
  if (dot >= 0) m = m.slice(dot + 'anthropic.'.length);
  return m;
}

export interface Tokens {
  tokens_in: number;
  tokens_out: number;
  cache_creation_tokens: number;
  cache_read_tokens: number;
}

function isPrice(v: unknown): v is Price {
  if (v === null || typeof v !== 'object') return false;
  const o = v as Record<string, unknown>;
  return ['input', 'output'].every((k) => typeof o[k] === 'number' && (o[k] as number) >= 0) && ['cache_write', 'cache_read'].every((k) => o[k] === undefined || (typeof o[k] === 'number' && (o[k] as number) >= 0));
}

/** The price table: the defaults, overlaid by the operator's file (a model set to null there is taken out). */
export class PriceTable {
  private table: Record<string, Price> = { ...DEFAULT_PRICES };
  private stamp = '';
  /** Why the file was not used, when it was not (logged once per change). */
  problem = '';

  constructor(
    private readonly file: string,
    private readonly warn: (msg: string) => void = () => undefined,
  ) {
    this.refresh();
  }

  /** Reads the file again when its size or time changed. */
  private refresh(): void {
    if (this.file === '') return;
    let stamp: string;
    try {
      const st = fs.statSync(this.file);
      stamp = `${st.mtimeMs}:${st.size}`;
    } catch {
      stamp = 'missing';
    }
    if (stamp === this.stamp) return;
    this.stamp = stamp;
    const table: Record<string, Price> = { ...DEFAULT_PRICES };
    try {
      if (stamp === 'missing') throw new Error('no such file');
      const given = JSON.parse(fs.readFileSync(this.file, 'utf8')) as unknown;
      if (given === null || typeof given !== 'object' || Array.isArray(given)) throw new Error('not a JSON object of model → {input, output, cache_write, cache_read}');
      const models = ((given as Record<string, unknown>).models ?? given) as Record<string, unknown>;
      for (const [model, v] of Object.entries(models)) {
        if (v === null) delete table[modelKey(model)];
        else if (isPrice(v)) table[modelKey(model)] = { input: v.input, output: v.output, cache_write: v.cache_write ?? v.input, cache_read: v.cache_read ?? v.input };
        else throw new Error(`${model}: expected {"input":N,"output":N,"cache_write":N,"cache_read":N} in USD per million tokens`);
      }
      this.problem = '';
    } catch (e) {
      this.problem = `price table ${this.file}: ${(e as Error).message}; using the defaults of ${PRICES_AS_OF}`;
      this.warn(this.problem);
    }
    this.table = table;
  }

  /** The price of a model: its longest listed prefix, or null when none. */
  priceOf(model: string): Price | null {
    this.refresh();
    const m = modelKey(model);
    let best: string | null = null;
    for (const k of Object.keys(this.table)) if (m.startsWith(k) && (best === null || k.length > best.length)) best = k;
    return best === null ? null : this.table[best]!;
  }

  /** The cost of the tokens in USD, or null when the model has no price. */
  cost(model: string, t: Tokens): number | null {
    const price = this.priceOf(model);
    if (!price) return null;
    const micro = t.tokens_in * price.input + t.tokens_out * price.output + t.cache_creation_tokens * price.cache_write + t.cache_read_tokens * price.cache_read;
    // Rounded to a millionth of a cent: a sum of many products should not print as 0.30000000000000004.
    return Math.round(micro * 100) / 1e8;
  }
}
