import type { HttpResponse } from 'uWebSockets.js';
import type { Slots } from '../http/slots.js';
import { fail, failWith } from '../errors.js';
import type { Authenticator } from './auth.js';
import { readBody } from '../http/body.js';
import { createCtx, type Ctx } from '../http/context.js';
import { send, sendError, statusLine } from '../http/reply.js';
import { methodLabel } from './router.js';
import type { Logger } from '../log.js';
import type { HttpMetrics } from '../metrics/http.js';
import type { McpGateway } from '../mcp/gateway.js';

const MCP_PATH = '/mcp';
/** Response headers passed back from the SDK transport (uWS sets length/encoding itself). */
const PASS_HEADERS = ['content-type', 'mcp-session-id', 'cache-control', 'www-authenticate', 'mcp-protocol-version'];

/**
 * `/mcp` on uWS: the request is turned into a web-standard Request for the SDK's
 * WebStandardStreamableHTTPServerTransport, and its Response (JSON or an SSE stream) is written
 * back through uWS with backpressure and abort handling.
 */
export function mountMcp(slots: Slots, deps: { auth: Authenticator; gateway: McpGateway; maxBodyBytes: number; log: Logger; onCall: (ctx: Ctx) => void; baseUrl: () => string; http?: HttpMetrics }): void {
  const { auth, gateway, log } = deps;
  slots.route('any', MCP_PATH, (res, req) => {
    const ctx = createCtx(res, req, 0, false);
    if (deps.http) ctx.onSent = deps.http.recorder(methodLabel(ctx.method), MCP_PATH);
    try {
      const authorized = auth.authorize(ctx);
      if (authorized === false) return sendError(ctx, fail('UNAUTHENTICATED'), log);
      if (ctx.method !== 'GET' && ctx.method !== 'POST' && ctx.method !== 'DELETE') {
        return sendError(ctx, failWith('METHOD_NOT_ALLOWED', { detail: { allow: 'GET, POST, DELETE' } }), log);
      }
      // The request's headers and body are taken now (uWS hands them out only during this call),
      // even when the caller's identity is still being looked up (cluster mode).
      const headers = new Headers();
      req.forEach((k, v) => headers.append(k, v));
      const method = ctx.method;
      const url = `${deps.baseUrl()}${MCP_PATH}${ctx.query ? `?${ctx.query}` : ''}`;
      const body = method === 'POST' ? readBody(ctx, deps.maxBodyBytes) : Promise.resolve(undefined);
      Promise.resolve(authorized)
        .then((ok) => {
          if (!ok) throw fail('UNAUTHENTICATED');
          deps.onCall(ctx);
          return body;
        })
        .then((buf) => {
          // A session belongs to who opened it: an agent, a created token, or the operator.
          const principal = auth.enabled ? (ctx.identity ? `instance:${ctx.identity.instanceId}` : ctx.principal.tokenId ? `token:${ctx.principal.tokenId}` : 'server') : 'open';
          // The caps count per root credential: the created token (also through the instances it
          // registered), else the instance, else the server token — registering instances mints no new quota.
          const rootToken = ctx.principal.tokenId ?? (ctx.identity?.tokenId || null);
          const root = !auth.enabled ? 'open' : rootToken ? `token:${rootToken}` : ctx.identity ? `instance:${ctx.identity.instanceId}` : 'server';
          return gateway.handle(new Request(url, { method, headers, body: buf as BodyInit | undefined }), ctx.identity, principal, ctx.principal.role, ctx.principal.tokenId, root);
        })
        .then((response) => writeResponse(ctx, response, () => gateway.streamOpened(response.headers.get('mcp-session-id') ?? headers.get('mcp-session-id'))))
        .catch((err: unknown) => sendError(ctx, err, log));
    } catch (err) {
      sendError(ctx, err, log);
    }
  });
}

function responseHeaders(r: Response): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const h of PASS_HEADERS) {
    if (h === 'content-type') continue;
    const v = r.headers.get(h);
    if (v !== null) out.push([h, v]);
  }
  return out;
}

async function writeResponse(ctx: Ctx, response: Response, holdSession: () => () => void): Promise<void> {
  const type = response.headers.get('content-type');
  if (ctx.aborted) {
    await response.body?.cancel();
    return;
  }
  if (!response.body || !type?.includes('text/event-stream')) {
    const buf = Buffer.from(await response.arrayBuffer());
    send(ctx, response.status, buf, type, responseHeaders(response));
    return;
  }
  // Server-sent events: stream each chunk as it comes, waiting when the socket is full.
  const res: HttpResponse = ctx.res;
  const reader = response.body.getReader();
  const release = holdSession();
  try {
    await pump(ctx, res, reader, response);
  } finally {
    release();
  }
}

async function pump(ctx: Ctx, res: HttpResponse, reader: ReadableStreamDefaultReader<Uint8Array>, response: Response): Promise<void> {
  const type = response.headers.get('content-type')!;
  let wake: (() => void) | null = null;
  // Client gone: end the SDK's stream (so the transport cleans up) and any wait for writability.
  ctx.onAbort = () => {
    void reader.cancel().catch(() => {});
    wake?.();
  };
  ctx.done = true;
  res.cork(() => {
    res.writeStatus(statusLine(response.status));
    res.writeHeader('Content-Type', type);
    for (const [k, v] of responseHeaders(response)) res.writeHeader(k, v);
    // A comment line flushes the headers now (uWS has no beginWrite in this version).
    res.write(':\n\n');
  });
  // Measured to the first byte: the stream itself may stay open for minutes.
  ctx.onSent?.(ctx, response.status);
  for (;;) {
    const { done, value } = await reader.read();
    if (ctx.aborted) return;
    if (done) {
      res.cork(() => res.end());
      return;
    }
    let ok = true;
    res.cork(() => {
      ok = res.write(value);
    });
    if (!ok) {
      await new Promise<void>((resolve) => {
        wake = resolve;
        res.onWritable(() => {
          resolve();
          return true;
        });
      });
      wake = null;
    }
  }
}
