/*
 * Who a call comes from, as the HTTP layer resolves it and the domains' services read
 * it: in neither's module, so a service needs nothing of HTTP to know its caller.
 */

/** The per-agent counters (docs/operations.md#agent-metrics). */
export type AgentMetricName = 'rest_calls' | 'mcp_calls' | 'state_writes' | 'events_published' | 'validations' | 'violations' | 'messages_sent';

/** Who made the request; empty until the agents layer resolves one. */
export interface Identity {
  instanceId: string;
  name: string;
  /**
   * The created token that registered the instance ('' or absent: none) — that token may act as
   * it with X-Koor-Instance.
   */
  tokenId?: string;
}

/**
 * What a token may do: `admin` — the server token(s), tokens created as admin, and
 * everyone in open mode; `agent` — instance tokens and tokens created as agent (register
 * instances, act as themselves); `reader` — reads, history, subscriptions, no writes.
 */
export type Role = 'admin' | 'agent' | 'reader';

/** The authenticated caller's rights, as the Authenticator found them. */
export interface Principal {
  readonly role: Role;
  /**
   * What the token reaches (`project:web`, `state:web/*`, `topic:web.*`); null = everything its
   * role may. Only created tokens carry scopes.
   */
  readonly scopes: readonly string[] | null;
  /** The created token's id (null: the server token, an instance token, open mode). */
  readonly tokenId: string | null;
}

/** An Authorization header resolved to its caller: the agent it names (if any) and its rights. */
export interface Resolved {
  identity: Identity | null;
  principal: Principal;
}

/** The operator: the server token, or anyone in open mode. */
export const ADMIN: Principal = Object.freeze({ role: 'admin', scopes: null, tokenId: null });
/** An agent by its instance token. */
export const AGENT: Principal = Object.freeze({ role: 'agent', scopes: null, tokenId: null });

/** Who writes without an agent identity: the operator (the server token, or open mode). */
export const HUMAN = 'human';
