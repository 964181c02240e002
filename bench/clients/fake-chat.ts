/**
 * A scripted fake of OpenAI's Chat Completions API on 127.0.0.1, for the clients that speak it
 * (GitHub Copilot CLI with `COPILOT_PROVIDER_TYPE=openai`, OpenCode's and Kilo's
 * `@ai-sdk/openai-compatible` providers), beside the fake Messages API (claude-code.ts) and the
 * fake Responses API (codex.ts), and built on the same recording server (common.ts): every request
 * is recorded (JSON body parsed; `agent` when it offered tools), `POST …/chat/completions` (any
 * prefix: `/v1/chat/completions`, `/chat/completions`) is answered per a script, streamed (SSE
 * `data: <chunk>` lines, then `data: [DONE]`) when the request asks for `stream: true` and as one
 * JSON object otherwise; `GET …/models` lists the model; anything else is a 404. Client-neutral:
 * nothing here knows a client's tools, only what the API carries.
 */
import { startRecordingServer, type ApiRequest, type FakeApi } from './common.js';

export type { ApiRequest, FakeApi } from './common.js';

/**
 * One tool call the fake model makes: a function's name and its arguments (an object is sent as
 * JSON text), or, with `custom`, a call of a custom (freeform) tool whose `input` is the text
 * (`{type: "custom", custom: {name, input}}`, e.g. an `apply_patch` patch).
 */
export interface ChatCall {
  name: string;
  arguments?: unknown;
  /** A custom tool's input text (the call is then `type: "custom"`). */
  custom?: string;
  /** The call's id (default `call_<n>`); the tool's result message names it as `tool_call_id`. */
  id?: string;
}

/**
 * What the fake model answers to one request: text; one tool call; several tool calls (and text
 * before them); or an error status (the body an OpenAI-style error).
 */
export type ChatReply = string | ChatCall | { calls: ChatCall[]; text?: string } | { status: number; message?: string };

/** Decides the answer to each agent request (one that offers tools); a list is answered in order, then CHAT_DONE. */
export type ChatScript = ChatReply[] | ((req: ApiRequest, turn: number) => ChatReply | Promise<ChatReply>);

/** What an agent request past the end of a list script gets. */
export const CHAT_DONE = 'Done.';
/** What a request without tools (a title, a summary) gets. */
const CHAT_PLAIN = 'Fake title';
/** The usage every completion reports (the last chunk when the request asks for it with `stream_options.include_usage`). */
const CHAT_USAGE = { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15, prompt_tokens_details: { cached_tokens: 2 }, completion_tokens_details: { reasoning_tokens: 0 } };

export interface FakeChatOptions {
  /** The model name it answers as when the request names none, and lists at GET /models (default `fake-model`). */
  model?: string;
  /** Split text and tool arguments into chunks of this many characters when streaming (default 0: one chunk each). */
  chunk?: number;
}

let ids = 0;

interface Answer {
  text: string;
  calls: { id: string; name: string; arguments: string; custom: boolean }[];
}

function answerOf(r: Exclude<ChatReply, { status: number }>): Answer {
  if (typeof r === 'string') return { text: r, calls: [] };
  const list = 'calls' in r ? r.calls : [r];
  const calls = list.map((c) => ({
    id: c.id ?? `call_${++ids}`,
    name: c.name,
    arguments: c.custom !== undefined ? c.custom : typeof c.arguments === 'string' ? c.arguments : JSON.stringify(c.arguments ?? {}),
    custom: c.custom !== undefined,
  }));
  return { text: 'calls' in r ? (r.text ?? '') : '', calls };
}

function pieces(s: string, size: number): string[] {
  if (size <= 0 || s.length <= size) return [s];
  const out: string[] = [];
  for (let i = 0; i < s.length; i += size) out.push(s.slice(i, i + size));
  return out;
}

/**
 * The stream of one completion as the API sends it: a first chunk with the role, the text's deltas,
 * per tool call a chunk with its index, id, type and name (arguments '') then its arguments'
 * deltas, a last chunk with `finish_reason` (`tool_calls` or `stop`), the usage chunk (`choices: []`)
 * when asked for, and `data: [DONE]`.
 */
function sse(id: string, model: string, a: Answer, usage: boolean, size: number): string {
  const created = Math.floor(Date.now() / 1000);
  const chunk = (choices: object[], more: object = {}): string => `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, system_fingerprint: 'fp_fake', choices, ...more })}\n\n`;
  const delta = (d: object, finish: string | null = null): string => chunk([{ index: 0, delta: d, logprobs: null, finish_reason: finish }]);
  let out = delta({ role: 'assistant', content: '' });
  if (a.text !== '') for (const p of pieces(a.text, size)) out += delta({ content: p });
  a.calls.forEach((c, index) => {
    if (c.custom) {
      out += delta({ tool_calls: [{ index, id: c.id, type: 'custom', custom: { name: c.name, input: '' } }] });
      for (const p of pieces(c.arguments, size)) out += delta({ tool_calls: [{ index, custom: { input: p } }] });
      return;
    }
    out += delta({ tool_calls: [{ index, id: c.id, type: 'function', function: { name: c.name, arguments: '' } }] });
    for (const p of pieces(c.arguments, size)) out += delta({ tool_calls: [{ index, function: { arguments: p } }] });
  });
  out += delta({}, a.calls.length > 0 ? 'tool_calls' : 'stop');
  if (usage) out += chunk([], { usage: CHAT_USAGE });
  return `${out}data: [DONE]\n\n`;
}

/** One completion as a single JSON object (`stream` absent or false). */
function whole(id: string, model: string, a: Answer): object {
  const message: Record<string, unknown> = { role: 'assistant', content: a.text === '' && a.calls.length > 0 ? null : a.text, refusal: null };
  if (a.calls.length > 0) message.tool_calls = a.calls.map((c) => (c.custom ? { id: c.id, type: 'custom', custom: { name: c.name, input: c.arguments } } : { id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments } }));
  return {
    id,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model,
    system_fingerprint: 'fp_fake',
    choices: [{ index: 0, message, logprobs: null, finish_reason: a.calls.length > 0 ? 'tool_calls' : 'stop' }],
    usage: CHAT_USAGE,
  };
}

/**
 * A fake Chat Completions API on 127.0.0.1 (ephemeral port; its `url` has no path: clients are
 * given `<url>/v1`). Agent requests (they offer tools) get the script's answers in order; other
 * requests get CHAT_PLAIN. The caller closes it.
 */
export function startFakeChatApi(script: ChatScript = [], o: FakeChatOptions = {}): Promise<FakeApi> {
  let turn = 0;
  const name = o.model ?? 'fake-model';
  return startRecordingServer((r, res) => {
    const p = new URL(r.url, 'http://x').pathname;
    const json = (status: number, body: object) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (r.method === 'GET' && /\/models$/.test(p)) {
      json(200, { object: 'list', data: [{ id: name, object: 'model', created: 0, owned_by: 'koor-fake' }] });
      return;
    }
    if (r.method !== 'POST' || !/\/chat\/completions$/.test(p)) {
      json(404, { error: { message: `fake API: no ${r.method} ${p}`, type: 'invalid_request_error', code: 'not_found' } });
      return;
    }
    // Read before the script runs: a script may drop the request's body once it has read it.
    const model = typeof r.body?.model === 'string' ? r.body.model : name;
    const stream = r.body?.stream === true;
    const usage = r.body?.stream_options?.include_usage === true;
    const decide = async (): Promise<ChatReply> => {
      if (!r.agent) return CHAT_PLAIN;
      const i = turn++;
      return Array.isArray(script) ? (script[i] ?? CHAT_DONE) : script(r, i);
    };
    decide().then(
      (reply) => {
        if (typeof reply === 'object' && 'status' in reply) {
          json(reply.status, { error: { message: reply.message ?? `fake API: status ${reply.status}`, type: 'server_error', code: null } });
          return;
        }
        const a = answerOf(reply);
        const id = `chatcmpl-fake-${r.n}`;
        if (stream) {
          res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' }).end(sse(id, model, a, usage, o.chunk ?? 0));
        } else json(200, whole(id, model, a));
      },
      (e: Error) => json(500, { error: { message: e.message, type: 'server_error', code: null } }),
    );
  });
}

// ---------------------------------------------------------------------------------------------
// What a request sent the model.

/** The texts of a message's content: a string, or parts (`{type:'text', text}`; others skipped). */
function contentTexts(c: unknown): string[] {
  if (typeof c === 'string') return c === '' ? [] : [c];
  if (!Array.isArray(c)) return [];
  return c.map((p: any) => (typeof p === 'string' ? p : typeof p?.text === 'string' ? p.text : '')).filter((s: string) => s !== '');
}

/** The messages of a request (`messages`), as sent. */
export function chatMessages(req: ApiRequest): any[] {
  return Array.isArray(req.body?.messages) ? req.body.messages : [];
}

/** Every text one request sent the model, in order: each message's content, and an assistant's tool calls' arguments (a custom tool's input). */
export function chatRequestTexts(req: ApiRequest): string[] {
  return chatMessages(req).flatMap((m) => [...contentTexts(m?.content), ...(Array.isArray(m?.tool_calls) ? m.tool_calls.map((c: any) => String(c?.function?.arguments ?? c?.custom?.input ?? '')) : [])]);
}

/** All of it as one string, to check that something was or was not seen. */
export function chatRequestText(req: ApiRequest): string {
  return chatRequestTexts(req).join('\n');
}

/** The tool results a request carries (`role: "tool"` messages), in order. */
export function chatToolResults(req: ApiRequest): { tool_call_id: string; text: string }[] {
  return chatMessages(req)
    .filter((m) => m?.role === 'tool')
    .map((m) => ({ tool_call_id: String(m.tool_call_id ?? ''), text: contentTexts(m.content).join('\n') }));
}

/** The names of the tools a request offered (`tools[].function.name`, a custom tool's `tools[].custom.name`). */
export function chatToolNames(req: ApiRequest): string[] {
  return ((req.body?.tools ?? []) as any[]).map((t) => t?.function?.name ?? t?.custom?.name ?? t?.name).filter((n): n is string => typeof n === 'string');
}
