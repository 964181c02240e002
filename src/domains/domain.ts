import type { Backend } from '../backend/backend.js';
import type { Readers } from './readers.js';
import type { Hub } from '../bus/hub.js';
import type { Job } from '../cluster/node.js';
import type { Config } from '../config.js';
import type { UpgradeDeps } from '../ws/upgrade.js';
import type { Route, RouteDecl } from '../http/route.js';
import type { Slots } from '../http/slots.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/registry.js';
import type { PoolClient } from '../rpc/pool-client.js';
import type { WriterClient } from '../rpc/writer-client.js';

/** What every domain is made from: the configuration, the threads' clients, the backend's readers, the event hub. */
export interface Platform {
  readonly config: Config;
  readonly log: Logger;
  readonly writer: WriterClient;
  readonly pool: PoolClient;
  readonly backend: Backend;
  readonly readers: Readers;
  readonly hub: Hub;
}

/**
 * A WebSocket route a domain serves besides its REST routes (mounted on every listener), declared
 * like them (src/http/route.ts): a GET answered with 101 once its rule allows the caller.
 */
export interface SocketRoute extends RouteDecl {
  readonly method: 'GET';
  mount(slots: Slots, deps: UpgradeDeps): void;
}

/**
 * A domain as the server mounts it (src/server.ts lists them): its REST routes, its metrics, the
 * background jobs it runs once per deployment (here, or on the elected node of a cluster), what it starts
 * on every node once the server listens, and what it stops when the server closes (after the
 * jobs stopped and in-flight writes drained, before the writer closes).
 */
export interface Domain {
  readonly routes: readonly Route[];
  readonly sockets?: readonly SocketRoute[];
  readonly jobs?: readonly Job[];
  start?(): void;
  /** Defines its metrics on the server's one registry (read when scraped). */
  metrics?(m: Metrics): void;
  close?(): unknown;
}
