import type { Hub } from './bus/hub.js';
import type { Config } from './config.js';
import type { AgentMetrics } from './domains/agent-metrics/service.js';
import type { EventService } from './domains/events/service.js';
import type { LivenessMonitor } from './domains/instances/liveness.js';
import type { InstanceService } from './domains/instances/service.js';
import type { Retention } from './domains/system/retention.js';
import type { ChangeFeed } from './domains/state/watch.js';
import type { WebhookDispatcher } from './domains/webhooks/dispatcher.js';
import type { Front } from './front/listen.js';
import type { Route } from './http/route.js';
import type { SocketRoute } from './domains/domain.js';
import type { Logger } from './log.js';
import type { McpGateway } from './mcp/gateway.js';
import type { Metrics } from './metrics/registry.js';
import type { PoolClient } from './rpc/pool-client.js';
import type { WriterClient } from './rpc/writer-client.js';

/** A running server, as its starter (koor-server, the supervisor, tests) holds it. */
export interface KoorServer {
  readonly config: Config;
  /** Bound ports (useful with port 0). */
  readonly port: number;
  readonly dashboardPort: number | null;
  /** `http://127.0.0.1:<port>` style base URL of the API listener (`https://` with --tls-cert). */
  readonly url: string;
  readonly dashboardUrl: string | null;
  readonly writer: WriterClient;
  readonly pool: PoolClient;
  readonly hub: Hub;
  /** State and spec watches: the change log's fan-out on this node. */
  readonly stateFeed: ChangeFeed;
  readonly events: EventService;
  readonly instances: InstanceService;
  readonly liveness: LivenessMonitor;
  readonly retention: Retention;
  readonly mcp: McpGateway;
  readonly webhooks: WebhookDispatcher;
  readonly agentMetrics: AgentMetrics;
  /** The one metrics registry (GET /metrics, GET /api/metrics). */
  readonly metrics: Metrics;
  readonly log: Logger;
  /** Random per start: tells a restarted server from the one before (`X-Koor-Boot` on /health). */
  readonly bootId: string;
  readonly front: Front;
  /** The REST routes it serves, as their domains declare them (src/http/route.ts). */
  readonly routes: readonly Route[];
  /** Its WebSocket routes, declared alike. */
  readonly sockets: readonly SocketRoute[];
  /** Cluster mode: whether this node runs the background jobs now; null on SQLite. */
  readonly cluster: { readonly isLeader: boolean } | null;
  /** `restart`: subscribers are told the server restarts (close code 1012), not that it stops. */
  close(opts?: { restart?: boolean }): Promise<void>;
}

export interface StartOptions {
  log?: Logger;
  /** Set by the supervisor: restart this server on an uploaded snapshot (live restore). */
  onRestore?: (file: string) => void;
  /** The listening side of the previous generation, to serve on (live restore). */
  front?: Front;
  /** Where the built dashboard is (default: dist/dashboard of this checkout or install). */
  dashboardDir?: string;
}
