import './front/uws-env.js';
import uWS from 'uWebSockets.js';
import type { Backend } from './backend/backend.js';
import type { Hub } from './bus/hub.js';
import type { Job } from './cluster/node.js';
import type { Domain } from './domains/domain.js';
import { fail } from './errors.js';
import { createCtx } from './http/context.js';
import type { Front } from './front/listen.js';
import { sendError } from './http/reply.js';
import type { Logger } from './log.js';
import type { McpGateway } from './mcp/gateway.js';
import type { PoolClient } from './rpc/pool-client.js';
import type { WriterClient } from './rpc/writer-client.js';
import { SHUTDOWN_GRACE_MS } from './shared/limits.js';

interface Parts {
  front: Front;
  backend: Backend;
  jobs: readonly Job[];
  domains: readonly Domain[];
  writer: WriterClient;
  pool: PoolClient;
  hub: Hub;
  mcp: McpGateway;
  log: Logger;
}

/**
 * A server's close, once however often it is called: stop accepting, stop the jobs, let in-flight
 * writes commit and their replies go out, close the domains, the sockets, the threads and the
 * backend. For a restart (live restore) the listeners stay: new requests get 503 (retry) until
 * the next generation mounts, and subscribers are told to resume (1012), not that it stops.
 */
export function closer(s: Parts): (opts?: { restart?: boolean }) => Promise<void> {
  const { front, backend, writer, hub, log } = s;
  const httpLog = log.child({ component: 'http' });
  let closing: Promise<void> | null = null;
  return (closeOpts: { restart?: boolean } = {}): Promise<void> =>
    (closing ??= (async () => {
      if (closeOpts.restart) {
        const restarting = (res: uWS.HttpResponse, req: uWS.HttpRequest) => sendError(createCtx(res, req, 0, false), fail('RESTARTING'), httpLog);
        front.api.park(restarting);
        front.dash?.park(restarting);
      } else {
        for (const socket of front.sockets) uWS.us_listen_socket_close(socket);
      }
      await backend.stopJobs();
      await Promise.all(s.jobs.map((j) => j.stop()));
      await writer.drain(SHUTDOWN_GRACE_MS);
      // What the domains hold (agent counts made up to now, the delivery thread, the event feed), before the writer closes.
      for (const d of s.domains) await d.close?.();
      hub.closeAll(closeOpts.restart ? 1012 : 1001, closeOpts.restart ? 'server restarting: resume with since=' : 'server shutting down');
      await s.mcp.close();
      await new Promise((r) => setImmediate(r));
      if (!closeOpts.restart) for (const slots of [front.api, front.dash]) (slots?.app as unknown as { close(): void } | undefined)?.close();
      await writer.close(SHUTDOWN_GRACE_MS);
      try {
        await s.pool.close();
      } finally {
        await backend.close();
      }
      log.info('stopped');
    })());
}
