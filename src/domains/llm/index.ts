import type { Domain, Platform } from '../domain.js';
import { PriceTable } from './prices.js';
import { llmRoutes } from './routes.js';
import { LlmService } from './service.js';

/** LLM usage and cost, OpenTelemetry in and budgets. */
export function llmDomain(p: Platform): Domain & { llm: LlmService } {
  const log = p.log.child({ component: 'llm' });
  const prices = new PriceTable(p.config.llmPrices, (msg) => log.warn(msg));
  const offset = p.config.testHooks ? (p.config.testClockOffsetMs ?? 0) : 0;
  const llm = new LlmService(p.readers.llm, p.writer, prices, () => Date.now() + offset);
  return { llm, routes: llmRoutes(llm) };
}
