import type { HttpRequest, HttpResponse, TemplatedApp, us_socket_context_t, WebSocket, WebSocketBehavior } from 'uWebSockets.js';
import { WS_HARD_FRAME_BYTES } from '../shared/limits.js';

export type HttpHandler = (res: HttpResponse, req: HttpRequest) => void;
export type UpgradeHandler = (res: HttpResponse, req: HttpRequest, context: us_socket_context_t) => void;
export type UwsMethod = 'get' | 'put' | 'post' | 'del' | 'head' | 'any';

/** Looks at every request (and upgrade) before its route: false when it answered it (refused) itself. */
export interface Gate {
  pass(res: HttpResponse, req: HttpRequest): boolean;
}

/** A WebSocket's callbacks, carried in its user data: a socket stays with the generation that opened it. */
export interface WsCallbacks<T> {
  open(ws: WebSocket<T>): void;
  drain(ws: WebSocket<T>): void;
  close(ws: WebSocket<T>): void;
}
export interface WsCarrier<T> {
  cb: WsCallbacks<T>;
}

export type WsOptions = Pick<WebSocketBehavior<unknown>, 'compression' | 'maxPayloadLength' | 'idleTimeout' | 'sendPingsAutomatically' | 'maxBackpressure' | 'closeOnBackpressureLimit'>;

/**
 * The routes of one uWS app, registered once for the life of the process, each calling a handler
 * that can be swapped. A live restore starts a new server generation on the same listening
 * sockets (same address, same keep-alive connections): uWS can neither unregister a route nor
 * register one twice, and in one process it could not listen on the port again at once after
 * closing its connections. One extra call per request.
 */
export class Slots {
  private readonly http = new Map<string, { fn: HttpHandler }>();
  private readonly upgrades = new Map<string, { fn: UpgradeHandler }>();
  /** Runs before every route and upgrade (the Host and Origin check, src/front/host-guard.ts); null = none. */
  gate: Gate | null = null;

  constructor(readonly app: TemplatedApp) {}

  route(method: UwsMethod, pattern: string, fn: HttpHandler): void {
    const key = `${method} ${pattern}`;
    const slot = this.http.get(key);
    if (slot) {
      slot.fn = fn;
      return;
    }
    const s = { fn };
    this.http.set(key, s);
    this.app[method](pattern, (res, req) => {
      const gate = this.gate;
      if (gate === null || gate.pass(res, req)) s.fn(res, req);
    });
  }

  /** A WebSocket route: `upgrade` is swapped per generation; the socket's own callbacks ride in its user data. */
  ws<T extends WsCarrier<T>>(pattern: string, options: WsOptions, upgrade: UpgradeHandler): void {
    const slot = this.upgrades.get(pattern);
    if (slot) {
      slot.fn = upgrade;
      return;
    }
    const s = { fn: upgrade };
    this.upgrades.set(pattern, s);
    // uWS (20.30) drops a connection whose frame is past its maxPayloadLength with no close frame
    // (the client sees 1006): it takes frames up to WS_HARD_FRAME_BYTES, and one past the route's
    // limit is closed here with 1009 Message Too Big. Past the hard cap, uWS still drops.
    const limit = options.maxPayloadLength ?? WS_HARD_FRAME_BYTES;
    this.app.ws<T>(pattern, {
      ...options,
      maxPayloadLength: Math.max(limit, WS_HARD_FRAME_BYTES),
      upgrade: (res, req, context) => {
        const gate = this.gate;
        if (gate === null || gate.pass(res, req)) s.fn(res, req, context);
      },
      open: (ws) => ws.getUserData().cb.open(ws),
      drain: (ws) => ws.getUserData().cb.drain(ws),
      message: (ws, m) => {
        if (m.byteLength > limit) ws.end(1009, `message too big: ${m.byteLength} bytes (max ${limit})`);
      },
      close: (ws) => ws.getUserData().cb.close(ws),
    });
  }

  /** Every route (and upgrade) answers with `fn` until the next generation mounts its own. */
  park(fn: HttpHandler): void {
    for (const s of this.http.values()) s.fn = fn;
    for (const s of this.upgrades.values()) s.fn = (res, req) => fn(res, req);
  }
}
