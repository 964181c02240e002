import type { Domain, Platform } from '../domain.js';
import { llmRoutes } from './routes.js';
import { LlmService } from './service.js';

/** LLM usage and cost (SPEC §2.15). */
export function llmDomain(p: Platform, d: { publish: (topic: string, data: string, source: string) => Promise<unknown> }): Domain {
  return { routes: llmRoutes(new LlmService(p.readers.llm, p.writer, d.publish)) };
}
