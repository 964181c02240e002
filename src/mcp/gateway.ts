import { randomUUID } from 'node:crypto';
import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import type { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import { ERRORS, errorMessage } from '../../schemas/error-catalogue.js';
import { MCP_TOOLS } from '../../schemas/http/mcp.js';
import { AppError, HTTP_STATUS, toAppError } from '../errors.js';
import type { Identity, Role } from '../identity.js';
import { permitRole } from '../http/permissions.js';
import type { Logger } from '../log.js';
import { MCP_STREAMS_PER_PRINCIPAL } from '../shared/limits.js';
import { Periodic } from '../shared/periodic.js';
import { runTool, ToolError, TOOL_RULES, type ToolDeps } from './tools.js';

interface Session {
  transport: WebStandardStreamableHTTPServerTransport;
  server: Server;
  /** Who opened it: later requests must come from the same principal. */
  principal: string;
  /**
   * The credential at the root of `principal`, which the per-principal caps count against: a
   * created token (also for the instances it registered), the server token, or an instance
   * registered without one. An agent token cannot mint new cap keys by registering instances.
   */
  root: string;
  lastActive: number;
  /** Open server-sent-event streams: a client holding one is not idle. */
  streams: number;
}

/** tools/list payload, built once from the TypeBox schemas (plain JSON Schema). */
const TOOL_LIST = MCP_TOOLS.map((t) => ({ name: t.name, description: t.description, inputSchema: JSON.parse(JSON.stringify(t.inputSchema)) as Record<string, unknown> }));

/** A JSON-RPC error reply: the catalogue's message of `error`, and its HTTP status. */
const jsonRpcError = (error: 'MCP_SESSION_NOT_FOUND' | 'MCP_SESSION_REQUIRED' | 'MCP_TOO_MANY_SESSIONS', code: number): Response =>
  new Response(JSON.stringify({ jsonrpc: '2.0', error: { code, message: errorMessage(error) }, id: null }), {
    status: HTTP_STATUS[ERRORS[error].status],
    headers: { 'content-type': 'application/json' },
  });

/**
 * The MCP SDK, loaded with the first session: with its schema library it is ~20 MB of
 * heap and ~0.2 s of start-up that a server no MCP client talks to should not pay.
 */
let sdkLoading: Promise<{ Server: typeof Server; Transport: typeof WebStandardStreamableHTTPServerTransport; schemas: typeof import('@modelcontextprotocol/sdk/types.js') }> | null = null;
const loadSdk = () =>
  (sdkLoading ??= Promise.all([
    import('@modelcontextprotocol/sdk/server/index.js'),
    import('@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js'),
    import('@modelcontextprotocol/sdk/types.js'),
  ]).then(([server, transport, schemas]) => ({ Server: server.Server, Transport: transport.WebStandardStreamableHTTPServerTransport, schemas })));

/**
 * MCP control plane over Streamable HTTP: stateful sessions keyed by Mcp-Session-Id,
 * one low-level SDK Server per session with exactly the five tools, idle sessions closed.
 * Bounded without locking anyone out: `sessions` is kept in least-recently-used order;
 * a root credential past its own cap closes its own least recently used session, and at the global
 * cap the least recently used session of anyone is closed — idle ones first, but one holding an
 * open stream too if none is idle — so a new client always gets a session. A root credential holds
 * at most MCP_STREAMS_PER_PRINCIPAL open streams: past it its least recently used stream's session closes.
 */
export class McpGateway {
  private readonly sessions = new Map<string, Session>();
  private readonly sweeper: Periodic;

  constructor(
    private readonly deps: ToolDeps,
    private readonly opts: { idleMs: number; log: Logger; maxSessions: number; perPrincipal: number },
  ) {
    this.sweeper = new Periodic(() => this.sweep(), { everyMs: Math.max(50, Math.min(opts.idleMs / 2, 60_000)), name: 'idle MCP session sweep', log: opts.log }).start();
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  /** Sessions closed to make room for new ones (koor_mcp_sessions_evicted_total). */
  evicted = 0;
  /** Open sessions per root credential. */
  private readonly perPrincipal = new Map<string, number>();
  /** Open streams per root credential. */
  private readonly streamsOf = new Map<string, number>();

  private track(id: string, s: Session): void {
    this.sessions.set(id, s);
    this.perPrincipal.set(s.root, (this.perPrincipal.get(s.root) ?? 0) + 1);
  }

  private untrack(id: string): Session | undefined {
    const s = this.sessions.get(id);
    if (!s) return undefined;
    this.sessions.delete(id);
    const n = (this.perPrincipal.get(s.root) ?? 1) - 1;
    if (n > 0) this.perPrincipal.set(s.root, n);
    else this.perPrincipal.delete(s.root);
    return s;
  }

  private drop(id: string, why: string): void {
    const s = this.untrack(id);
    if (!s) return;
    void s.transport.close().catch(() => {});
    void s.server.close().catch(() => {});
    this.opts.log.debug({ session: id, principal: s.principal }, why);
  }

  /** The least recently used session of `root` (of anyone when null): one without an open stream if any. */
  private lru(root: string | null): string | null {
    let streaming: string | null = null;
    for (const [id, s] of this.sessions) {
      if (root !== null && s.root !== root) continue;
      if (s.streams === 0) return id;
      streaming ??= id;
    }
    return streaming;
  }

  /** Room for one more session of `root`: the least recently used session (its own first) makes way. */
  private makeRoom(root: string): boolean {
    while ((this.perPrincipal.get(root) ?? 0) >= this.opts.perPrincipal) {
      const own = this.lru(root);
      if (own === null) break;
      this.drop(own, 'MCP session closed: its token opened one past its cap');
      this.evicted++;
    }
    while (this.sessions.size >= this.opts.maxSessions) {
      const any = this.lru(null);
      if (any === null) return false;
      this.drop(any, 'MCP session closed: least recently used at the global cap');
      this.evicted++;
    }
    return true;
  }

  /** `root`: the credential the caps count against (defaults to `principal`). */
  async handle(req: Request, identity: Identity | null, principal: string, role: Role = 'admin', tokenId: string | null = null, root: string = principal): Promise<Response> {
    const sid = req.headers.get('mcp-session-id');
    if (sid) {
      const s = this.sessions.get(sid);
      if (!s || s.principal !== principal) return jsonRpcError('MCP_SESSION_NOT_FOUND', -32001);
      s.lastActive = Date.now();
      // Most recently used last: the map's order is the eviction order.
      this.sessions.delete(sid);
      this.sessions.set(sid, s);
      return s.transport.handleRequest(req, { authInfo: { token: principal, clientId: identity?.instanceId ?? principal, scopes: [], extra: { role, tokenId } } });
    }
    if (req.method !== 'POST') return jsonRpcError('MCP_SESSION_REQUIRED', -32000);
    const sdk = await loadSdk();
    if (!this.makeRoom(root)) return jsonRpcError('MCP_TOO_MANY_SESSIONS', -32000);
    const session = this.open(principal, root, sdk);
    return session.transport.handleRequest(req, { authInfo: { token: principal, clientId: identity?.instanceId ?? principal, scopes: [], extra: { role, tokenId } } });
  }

  private open(principal: string, root: string, { Server, Transport, schemas }: Awaited<ReturnType<typeof loadSdk>>): Session {
    const { CallToolRequestSchema, ListToolsRequestSchema } = schemas;
    const server = new Server({ name: 'koor', version: '0.1.0' }, { capabilities: { tools: {} } });
    const session: Session = {
      server,
      principal,
      root,
      lastActive: Date.now(),
      streams: 0,
      transport: new Transport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (id) => {
          // Initializes answered concurrently may each have found room: the cap holds here too.
          this.makeRoom(root);
          this.track(id, session);
        },
        onsessionclosed: (id) => {
          this.untrack(id);
        },
      }),
    };
    session.transport.onclose = () => {
      const id = session.transport.sessionId;
      if (id && this.sessions.get(id) === session) this.untrack(id);
    };
    server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: TOOL_LIST }));
    server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
      const args = (request.params.arguments ?? {}) as Record<string, unknown>;
      const caller = extra.authInfo?.clientId && extra.authInfo.clientId !== principal ? await this.deps.instances.resolveInstance(extra.authInfo.clientId) : null;
      try {
        // The tools have rules as the routes do (./tools.ts TOOL_RULES): set_intent is an agent's own
        // — for a created token, any agent it registered.
        const role = (extra.authInfo?.extra?.role as Role | undefined) ?? 'admin';
        const tokenId = (extra.authInfo?.extra?.tokenId as string | null | undefined) ?? null;
        const rule = TOOL_RULES[request.params.name];
        if (rule) {
          const subject = typeof args.instance_id === 'string' ? args.instance_id : null;
          const target = rule.access === 'self' && role === 'agent' && subject !== null && subject !== '' && caller?.instanceId !== subject ? await this.deps.instances.resolveInstance(subject) : null;
          try {
            permitRole(rule, { role, tokenId }, caller, subject, target);
          } catch (e) {
            this.deps.onDenied?.({ principal: { role, scopes: null, tokenId }, identity: caller }, rule, `MCP ${request.params.name}`);
            throw ToolError.relay(e as AppError);
          }
        }
        const value = await runTool(request.params.name, args, this.deps, caller, tokenId);
        // Compact JSON: the model pays for every byte of indentation.
        return { content: [{ type: 'text', text: JSON.stringify(value) }] };
      } catch (e) {
        if (e instanceof ToolError) return { content: [{ type: 'text', text: e.message }], isError: true };
        // A store's error the model can act on (PostgreSQL unreachable, text it cannot store) reads
        // as it is; anything else is a bug, logged, and the model told no more than that.
        const known = toAppError(e, `MCP ${request.params.name}`);
        if (known.status !== 'INTERNAL') return { content: [{ type: 'text', text: known.message }], isError: true };
        this.opts.log.error({ err: e, tool: request.params.name }, 'tool failed');
        return { content: [{ type: 'text', text: errorMessage('TOOL_INTERNAL') }], isError: true };
      }
    });
    void server.connect(session.transport);
    return session;
  }

  /** The bridge reports SSE streams it is writing; returns the matching release. */
  streamOpened(sessionId: string | null): () => void {
    const s = sessionId ? this.sessions.get(sessionId) : undefined;
    if (!s) return () => {};
    s.streams++;
    const n = (this.streamsOf.get(s.root) ?? 0) + 1;
    this.streamsOf.set(s.root, n);
    if (n > MCP_STREAMS_PER_PRINCIPAL) {
      // Past its stream cap: the root's least recently used session holding a stream closes (its stream ends).
      for (const [id, o] of this.sessions) {
        if (o.root === s.root && o.streams > 0 && o !== s) {
          this.drop(id, 'MCP session closed: its token holds too many open streams');
          this.evicted++;
          break;
        }
      }
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      s.streams--;
      s.lastActive = Date.now();
      const left = (this.streamsOf.get(s.root) ?? 1) - 1;
      if (left > 0) this.streamsOf.set(s.root, left);
      else this.streamsOf.delete(s.root);
    };
  }

  private sweep(): void {
    const cutoff = Date.now() - this.opts.idleMs;
    for (const [id, s] of this.sessions) {
      if (s.lastActive >= cutoff || s.streams > 0) continue;
      this.drop(id, 'idle MCP session closed');
    }
  }

  async close(): Promise<void> {
    await this.sweeper.stop();
    const all = [...this.sessions.values()];
    this.sessions.clear();
    this.perPrincipal.clear();
    this.streamsOf.clear();
    await Promise.allSettled(all.flatMap((s) => [s.transport.close(), s.server.close()]));
  }
}
