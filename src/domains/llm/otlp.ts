import type { Usage } from './service.js';

/**
 * OpenTelemetry in: an OTLP/HTTP JSON logs export (`POST /v1/logs`) → the usage records
 * of Claude Code's `claude_code.api_request` events and of Codex's `codex.sse_event` events of
 * kind `response.completed` that carry token counts. Everything else in it (other
 * events, other programs' logs) is accepted and ignored, as OTLP expects of a receiver. A record's
 * key is its session and the event's sequence number in it (Codex: the record's observed time,
 * its only unique mark), so an export the exporter retries (after a timeout whose reply it never
 * saw) stores nothing twice.
 *
 * The shape (opentelemetry-proto's JSON mapping, as Claude Code 2.1 sends it; a capture is
 * test/fixtures/otlp/claude-code-2.1.328.txt):
 * `{"resourceLogs":[{"resource":{"attributes":[…]},"scopeLogs":[{"logRecords":[{"timeUnixNano",
 * "body":{"stringValue":"claude_code.api_request"},"attributes":[{"key","value":{"stringValue"|
 * "intValue"|"doubleValue"|"boolValue"}}]}]}]}]}`; int64 values may come as strings. The route has
 * checked the types of these members (OtlpLogsBody, schemas/http/llm.ts): a body that
 * reaches here has the types read below, or nulls.
 *
 * Codex 0.169 (`[otel] exporter = { otlp-http = { …, protocol = "json" } }` in ~/.codex/config.toml;
 * test/helpers/CODEX-FACTS.md) sends records with a null body, `timeUnixNano` "0", an
 * `observedTimeUnixNano`, and string attributes: `event.name` `codex.sse_event`, `event.kind`,
 * `conversation.id` (the session id its hooks get), `model`, `input_token_count` (cached tokens
 * included, as OpenAI counts them), `cached_token_count`, `cache_write_token_count`,
 * `output_token_count` (reasoning included), `reasoning_token_count`; no cost.
 *
 * Gemini CLI 0.61 (`telemetry: {enabled, otlpEndpoint, otlpProtocol: "http"}` in its settings;
 * test/helpers/GEMINI-FACTS.md; a capture is test/fixtures/otlp/gemini-cli-0.61.0.txt) sends one
 * `gemini_cli.api_response` record per request (`event.name`), with `session.id` (the session id
 * its hooks get), `model`, `role`, `input_token_count` (cached tokens included),
 * `cached_content_token_count`, `output_token_count` (thoughts not included),
 * `thoughts_token_count`; no cost, no sequence number. The `gen_ai.client.inference.operation.details`
 * record after it repeats the usage: not counted.
 *
 * GitHub Copilot CLI 1.0 (`OTEL_EXPORTER_OTLP_ENDPOINT`; test/helpers/COPILOT-FACTS.md; a capture
 * is test/fixtures/otlp/copilot-cli-1.0.102.txt) exports no logs: each request to the model is a
 * span (POST /v1/traces) named `chat <model>`, `gen_ai.operation.name` `chat`, with
 * `gen_ai.conversation.id` (the session id its hooks get), `gen_ai.request.model` /
 * `gen_ai.response.model`, `gen_ai.provider.name`, `gen_ai.usage.input_tokens` (cached included),
 * `gen_ai.usage.cache_read.input_tokens`, `gen_ai.usage.cache_write.input_tokens`,
 * `gen_ai.usage.output_tokens`. Its `invoke_agent` span sums a prompt's requests: not counted.
 *
 * OpenCode 1.18 (`experimental.openTelemetry` in its config and `OTEL_EXPORTER_OTLP_ENDPOINT`;
 * test/helpers/OPENCODE-FACTS.md; a capture, cut down, is test/fixtures/otlp/opencode-1.18.33.txt)
 * traces each request to the model as an AI SDK `ai.streamText.doStream` span (`ai.operationId`),
 * with `session.id` (the `ses_…` id its plugin hooks get), `gen_ai.response.model`,
 * `ai.model.provider` (`<provider id>.chat`), `gen_ai.usage.input_tokens` (cached included),
 * `ai.usage.inputTokenDetails.noCacheTokens` / `.cacheReadTokens` / `.cacheWriteTokens`,
 * `gen_ai.usage.output_tokens` (reasoning included); its parent `ai.streamText` span repeats the
 * usage: not counted.
 */

type AnyValue = { stringValue?: string; intValue?: number | string; doubleValue?: number | string; boolValue?: boolean };
type KeyValue = { key?: unknown; value?: AnyValue | null };

const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/** Attributes as a map of plain values (the last of a key wins). */
function attributes(list: unknown): Map<string, string | number | boolean> {
  const out = new Map<string, string | number | boolean>();
  for (const kv of arr(list) as KeyValue[]) {
    if (!isObj(kv) || typeof kv.key !== 'string' || !isObj(kv.value)) continue;
    const v = kv.value;
    if (typeof v.stringValue === 'string') out.set(kv.key, v.stringValue);
    else if (v.intValue !== undefined && Number.isFinite(Number(v.intValue))) out.set(kv.key, Number(v.intValue));
    else if (v.doubleValue !== undefined && Number.isFinite(Number(v.doubleValue))) out.set(kv.key, Number(v.doubleValue));
    else if (typeof v.boolValue === 'boolean') out.set(kv.key, v.boolValue);
  }
  return out;
}

const text = (v: string | number | boolean | undefined): string => (typeof v === 'string' ? v : v === undefined ? '' : String(v));
/** A token count: a non-negative integer, else 0 (a malformed count is not a reason to lose the record). */
const count = (v: string | number | boolean | undefined): number => {
  const n = typeof v === 'number' ? v : typeof v === 'string' ? Number(v) : NaN;
  return Number.isSafeInteger(n) && n >= 0 ? n : 0;
};

type Attrs = Map<string, string | number | boolean>;

/**
 * Whom a usage record is charged to and how it is tagged, on every client's record: the agent
 * token that sent the export (its instance), and the `koor.*` attributes of the record or its resource.
 */
function owner(a: Attrs, resource: Attrs, identity: string): Pick<Usage, 'instance_id' | 'project' | 'session_tag'> {
  return {
    instance_id: identity,
    project: text(a.get('koor.project') ?? resource.get('koor.project')),
    session_tag: text(a.get('koor.session_tag') ?? resource.get('koor.session_tag')),
  };
}

/** A span's dedup key: its id, unique (a retried export resends it); without one, its end and model. */
function spanKey(resource: Attrs, session: string, span: Record<string, unknown>, model: string): string {
  const id = typeof span.spanId === 'string' && span.spanId !== '' ? span.spanId : `${text(span.endTimeUnixNano as string | number | undefined)}:${model}`;
  return `otlp:${text(resource.get('service.name'))}:${session}:${id}`;
}

export interface OtlpUsage {
  usages: Usage[];
  /** Log records read in all (of any kind). */
  seen: number;
}

/**
 * The usage records of an export. `identity`: the instance of an agent token that sent it (its
 * records are its own even without a hook); otherwise attribution is by session at the writer.
 */
export function usageFromLogs(body: unknown, identity: string): OtlpUsage {
  const usages: Usage[] = [];
  let seen = 0;
  if (!isObj(body)) return { usages, seen };
  for (const rl of arr(body.resourceLogs)) {
    if (!isObj(rl)) continue;
    const resource = attributes(isObj(rl.resource) ? rl.resource.attributes : undefined);
    for (const sl of arr(rl.scopeLogs)) {
      if (!isObj(sl)) continue;
      for (const rec of arr(sl.logRecords)) {
        if (!isObj(rec)) continue;
        seen++;
        const a = attributes(rec.attributes);
        if (a.get('event.name') === 'codex.sse_event') {
          const u = codexUsage(a, resource, rec, identity);
          if (u !== null) usages.push(u);
          continue;
        }
        if (a.get('event.name') === 'gemini_cli.api_response') {
          const u = geminiUsage(a, resource, rec, identity);
          if (u !== null) usages.push(u);
          continue;
        }
        const bodyName = isObj(rec.body) && typeof rec.body.stringValue === 'string' ? rec.body.stringValue : '';
        if (a.get('event.name') !== 'api_request' && bodyName !== 'claude_code.api_request') continue;
        const model = text(a.get('model'));
        if (model === '') continue;
        const session = text(a.get('session.id'));
        const seq = a.get('event.sequence');
        const when = text(rec.timeUnixNano as string | number | undefined) || text(a.get('event.timestamp'));
        const cost = a.get('cost_usd');
        const micros = a.get('cost_usd_micros');
        usages.push({
          ...owner(a, resource, identity),
          provider: 'anthropic',
          model,
          tokens_in: count(a.get('input_tokens')),
          tokens_out: count(a.get('output_tokens')),
          cache_creation_tokens: count(a.get('cache_creation_tokens')),
          cache_read_tokens: count(a.get('cache_read_tokens')),
          cost_usd: typeof micros === 'number' && micros >= 0 ? micros / 1e6 : typeof cost === 'number' && cost >= 0 ? cost : null,
          request_type: 'claude-code',
          session_id: session,
          // The session's event sequence is unique in it; without one, the record's time and prompt.
          dedup_key: `otlp:${text(resource.get('service.name'))}:${session}:${seq !== undefined ? `#${text(seq)}` : `${when}:${text(a.get('prompt.id'))}:${model}`}`,
        });
      }
    }
  }
  return { usages, seen };
}

/**
 * A Codex `codex.sse_event` record: usage when it is the `response.completed` one with token
 * counts (Codex logs each completed response twice, once with its duration only), else null.
 */
function codexUsage(a: Attrs, resource: Attrs, rec: Record<string, unknown>, identity: string): Usage | null {
  if (a.get('event.kind') !== 'response.completed' || !a.has('input_token_count')) return null;
  const model = text(a.get('model'));
  if (model === '') return null;
  const session = text(a.get('conversation.id'));
  const cached = count(a.get('cached_token_count'));
  const observed = text(rec.observedTimeUnixNano as string | number | undefined);
  const when = observed !== '' && observed !== '0' ? observed : text(a.get('event.timestamp'));
  return {
    ...owner(a, resource, identity),
    provider: 'openai',
    model,
    // OpenAI's input count includes the cached tokens; Koor's tokens_in does not (as for Claude).
    tokens_in: Math.max(0, count(a.get('input_token_count')) - cached),
    tokens_out: count(a.get('output_token_count')),
    cache_creation_tokens: count(a.get('cache_write_token_count')),
    cache_read_tokens: cached,
    cost_usd: null,
    request_type: 'codex',
    session_id: session,
    dedup_key: `otlp:${text(resource.get('service.name'))}:${session}:${when}:${model}`,
  };
}

/** A Gemini CLI `gemini_cli.api_response` record's usage (null without a model). */
function geminiUsage(a: Attrs, resource: Attrs, rec: Record<string, unknown>, identity: string): Usage | null {
  const model = text(a.get('model'));
  if (model === '') return null;
  const session = text(a.get('session.id') ?? resource.get('session.id'));
  const cached = count(a.get('cached_content_token_count'));
  const when = text(rec.timeUnixNano as string | number | undefined) || text(a.get('event.timestamp'));
  return {
    ...owner(a, resource, identity),
    provider: 'google',
    model,
    // Gemini's input count includes the cached tokens, its output count not the thoughts (billed as output).
    tokens_in: Math.max(0, count(a.get('input_token_count')) - cached),
    tokens_out: count(a.get('output_token_count')) + count(a.get('thoughts_token_count')),
    cache_creation_tokens: 0,
    cache_read_tokens: cached,
    cost_usd: null,
    request_type: 'gemini',
    session_id: session,
    // No sequence number: a retried export resends the same record, time (ms) and all.
    dedup_key: `otlp:gemini:${session}:${when}:${model}:${text(a.get('role'))}`,
  };
}

/**
 * The usage records of a traces export: each GitHub Copilot CLI `chat` span and each OpenCode
 * `ai.streamText.doStream` span (one request to the model each). Spans of other kinds and other
 * programs are accepted and ignored. `identity` as for logs.
 */
export function usageFromTraces(body: unknown, identity: string): OtlpUsage {
  const usages: Usage[] = [];
  let seen = 0;
  if (!isObj(body)) return { usages, seen };
  for (const rs of arr(body.resourceSpans)) {
    if (!isObj(rs)) continue;
    const resource = attributes(isObj(rs.resource) ? rs.resource.attributes : undefined);
    for (const ss of arr(rs.scopeSpans)) {
      if (!isObj(ss)) continue;
      for (const span of arr(ss.spans)) {
        if (!isObj(span)) continue;
        seen++;
        const a = attributes(span.attributes);
        const u = a.get('ai.operationId') === 'ai.streamText.doStream' ? openCodeUsage(a, resource, span, identity) : copilotUsage(a, resource, span, identity);
        if (u !== null) usages.push(u);
      }
    }
  }
  return { usages, seen };
}

/** A GitHub Copilot CLI `chat` span's usage (null for any other span, or without a model). */
function copilotUsage(a: Attrs, resource: Attrs, span: Record<string, unknown>, identity: string): Usage | null {
  if (a.get('gen_ai.operation.name') !== 'chat' || !a.has('gen_ai.usage.input_tokens')) return null;
  const model = text(a.get('gen_ai.response.model') ?? a.get('gen_ai.request.model'));
  if (model === '') return null;
  const session = text(a.get('gen_ai.conversation.id'));
  const cached = count(a.get('gen_ai.usage.cache_read.input_tokens'));
  return {
    ...owner(a, resource, identity),
    provider: text(a.get('gen_ai.provider.name')) || 'github',
    model,
    // The input count includes the cached tokens (as OpenAI counts them); Koor's tokens_in does not.
    tokens_in: Math.max(0, count(a.get('gen_ai.usage.input_tokens')) - cached),
    tokens_out: count(a.get('gen_ai.usage.output_tokens')),
    cache_creation_tokens: count(a.get('gen_ai.usage.cache_write.input_tokens')),
    cache_read_tokens: cached,
    // `github.copilot.cost` is not dollars (0 with a provider of one's own): priced from the table.
    cost_usd: null,
    request_type: 'copilot',
    session_id: session,
    dedup_key: spanKey(resource, session, span, model),
  };
}

/** An OpenCode `ai.streamText.doStream` span's usage (null without a model or token counts). */
function openCodeUsage(a: Attrs, resource: Attrs, span: Record<string, unknown>, identity: string): Usage | null {
  const model = text(a.get('gen_ai.response.model') ?? a.get('gen_ai.request.model') ?? a.get('ai.model.id'));
  if (model === '' || !a.has('gen_ai.usage.input_tokens')) return null;
  const session = text(a.get('session.id'));
  const read = count(a.get('ai.usage.inputTokenDetails.cacheReadTokens'));
  const write = count(a.get('ai.usage.inputTokenDetails.cacheWriteTokens'));
  const fresh = a.has('ai.usage.inputTokenDetails.noCacheTokens') ? count(a.get('ai.usage.inputTokenDetails.noCacheTokens')) : Math.max(0, count(a.get('gen_ai.usage.input_tokens')) - read - write);
  return {
    ...owner(a, resource, identity),
    // `anthropic.chat`, `openai.responses`: the provider of the config, without the AI SDK's API.
    provider: text(a.get('ai.model.provider')).replace(/\.[a-z-]+$/, '') || 'opencode',
    model,
    tokens_in: fresh,
    tokens_out: count(a.get('gen_ai.usage.output_tokens')),
    cache_creation_tokens: write,
    cache_read_tokens: read,
    cost_usd: null,
    request_type: 'opencode',
    session_id: session,
    dedup_key: spanKey(resource, session, span, model),
  };
}
