import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { periodsAt, secondsLeft } from '../../src/domains/llm/periods.js';
import { DEFAULT_PRICES, modelKey, PriceTable, PRICES_AS_OF } from '../../src/domains/llm/prices.js';

/** The price table and the budget periods of LLM cost (src/domains/llm). */

const tokens = (tokens_in: number, tokens_out = 0, cache_creation_tokens = 0, cache_read_tokens = 0) => ({ tokens_in, tokens_out, cache_creation_tokens, cache_read_tokens });

t.test('model names as gateways spell them match the longest listed prefix', async (t) => {
  t.equal(modelKey('us.anthropic.claude-sonnet-4-5-20250929-v1:0'), 'claude-sonnet-4-5-20250929-v1:0');
  t.equal(modelKey('openrouter/openai/GPT-4o-mini'), 'gpt-4o-mini');
  const p = new PriceTable('');
  t.same(p.priceOf('claude-sonnet-4-5-20250929'), DEFAULT_PRICES['claude-sonnet-4-5']);
  t.same(p.priceOf('gpt-4o-mini-2024-07-18'), DEFAULT_PRICES['gpt-4o-mini'], 'not gpt-4o');
  t.equal(p.priceOf('llama-3'), null);
  t.equal(p.cost('llama-3', tokens(1000)), null, 'no price: no cost, not 0');
  t.equal(p.cost('claude-haiku-4-5', tokens(1_000_000, 1_000_000, 1_000_000, 1_000_000)), 1 + 5 + 1.25 + 0.1);
  t.match(PRICES_AS_OF, /^\d{4}-\d\d-\d\d$/, 'the defaults are dated');
});

t.test("the operator's file: overlays, removes with null, re-read when it changes, and a bad one leaves the defaults with a warning", async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'koor-prices-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'prices.json');
  const warnings: string[] = [];
  fs.writeFileSync(file, JSON.stringify({ models: { 'acme-1': { input: 2, output: 4 }, 'gpt-4o': null } }));
  const p = new PriceTable(file, (w) => warnings.push(w));
  t.same(p.priceOf('acme-1-large'), { input: 2, output: 4, cache_write: 2, cache_read: 2 }, 'cache prices default to the input price');
  t.equal(p.priceOf('gpt-4o-2024-08-06'), null, 'taken out');
  fs.writeFileSync(file, '{"acme-1": {"input": "two"}}   ');
  t.same(p.priceOf('acme-1'), null, 'a bad file: the defaults alone');
  t.match(warnings, [/acme-1: expected \{"input":N,"output":N,"cache_write":N,"cache_read":N\} in USD per million tokens; using the defaults of/]);
  t.same(p.priceOf('gpt-4o'), DEFAULT_PRICES['gpt-4o']);
  fs.rmSync(file);
  t.same(p.priceOf('gpt-4o'), DEFAULT_PRICES['gpt-4o'], 'a missing file: the defaults');
  t.match(p.problem, /no such file/);
});

t.test('budget periods in UTC: day, week from Monday, month, total', async (t) => {
  t.same(periodsAt(Date.parse('2026-11-29T23:59:59Z')), {
    day: { key: '2026-11-29', start: '2026-11-29 00:00:00' },
    week: { key: 'week-2026-11-23', start: '2026-11-23 00:00:00' },
    month: { key: '2026-11', start: '2026-11-01 00:00:00' },
    total: { key: 'total', start: '' },
  }, 'a Sunday is the end of the week that began on Monday');
  t.match(periodsAt(Date.parse('2026-11-30T00:00:00Z')), { week: { key: 'week-2026-11-30' }, month: { key: '2026-11' } }, 'Monday starts a new one');
  t.match(periodsAt(Date.parse('2027-01-01T00:00:00Z')), { day: { key: '2027-01-01' }, week: { key: 'week-2026-12-28' }, month: { key: '2027-01', start: '2027-01-01 00:00:00' } });
});

t.test('the seconds until a budget period ends (a refusal\'s Retry-After); a total cap never ends', async (t) => {
  const sunday = Date.parse('2026-11-29T23:59:59Z');
  t.same([secondsLeft('day', sunday), secondsLeft('week', sunday), secondsLeft('month', sunday), secondsLeft('total', sunday)], [1, 1, 86_401, null]);
  const monday = Date.parse('2026-11-30T00:00:00Z');
  t.same([secondsLeft('day', monday), secondsLeft('week', monday), secondsLeft('month', monday)], [86_400, 7 * 86_400, 86_400], 'a period that just began: all of it');
  t.equal(secondsLeft('month', Date.parse('2026-12-31T12:00:00.500Z')), 43_200, 'December rolls into January (rounded up to the second)');
  t.equal(secondsLeft('day', Date.parse('2026-11-29T23:59:59.900Z')), 1, 'never 0');
});
