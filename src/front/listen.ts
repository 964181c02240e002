import './uws-env.js';
import uWS from 'uWebSockets.js';
import { ConfigError, type Bind, type Config } from '../config.js';
import type { Slots } from '../http/slots.js';

/**
 * What a server listens with, kept across generations by a live restore: the uWS apps (their
 * routes in swappable slots) and their listening sockets, so clients keep the same address and
 * connections while the data underneath is replaced.
 */
export interface Front {
  readonly api: Slots;
  readonly dash: Slots | null;
  readonly sockets: uWS.us_listen_socket[];
  readonly port: number;
  readonly dashboardPort: number | null;
}

/** The fallback JS build of uWS is far slower; refuse to run on it. */
export function assertNativeUws(): void {
  if (typeof (uWS as unknown as { getParts?: unknown }).getParts !== 'function') {
    throw new ConfigError('uWebSockets.js native binary not loaded (needs Node 20 on linux-x64); refusing the slow fallback');
  }
}

export function listen(app: uWS.TemplatedApp, bind: Bind, what: string): Promise<{ socket: uWS.us_listen_socket; port: number }> {
  return new Promise((resolve, reject) => {
    const done = (socket: uWS.us_listen_socket | false) => {
      if (!socket) return reject(new ConfigError(`cannot listen on ${bind.text} (${what}): address already in use or not available`));
      resolve({ socket, port: uWS.us_socket_local_port(socket as unknown as uWS.us_socket) });
    };
    // Exclusive: uWS otherwise sets SO_REUSEPORT, and a second server on the same port would start
    // silently and share the connections (two databases answering one address).
    if (bind.host === '') app.listen(bind.port, LISTEN_EXCLUSIVE, done);
    else (app as unknown as ListenWithHost).listen(bind.host, bind.port, LISTEN_EXCLUSIVE, done);
  });
}

/** `listen(host, port, options, cb)` exists at runtime but is missing from the 20.30 typings. */
interface ListenWithHost {
  listen(host: string, port: number, options: number, cb: (socket: uWS.us_listen_socket | false) => void): unknown;
}
/** uWS ListenOptions.LIBUS_LISTEN_EXCLUSIVE_PORT (a const enum in the typings). */
const LISTEN_EXCLUSIVE = 1;

/** The host of a URL a client on this machine reaches `bind` with. */
export function hostForUrl(bind: Bind): string {
  if (bind.host === '' || bind.host === '0.0.0.0') return '127.0.0.1';
  if (bind.host === '::') return '[::1]';
  return bind.host.includes(':') ? `[${bind.host}]` : bind.host;
}

/** `https` when the listeners serve TLS (--tls-cert), else `http`; `wss`/`ws` likewise. */
export function urlScheme(config: Pick<Config, 'tlsCert'>): 'http' | 'https' {
  return config.tlsCert === '' ? 'http' : 'https';
}

/** Whether a bind host is reachable from this machine only (`localhost`, 127.0.0.0/8, `::1`). */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/**
 * Open mode is for a single-user laptop: the listen addresses (API, dashboard) that are
 * not loopback while no token is configured — anyone who can reach them acts as the operator.
 */
export function exposedWithoutToken(c: Pick<Config, 'authToken' | 'bind' | 'dashboardBind'>): string[] {
  if (c.authToken !== '') return [];
  return [c.bind, c.dashboardBind].filter((b): b is NonNullable<typeof b> => b !== null && !isLoopbackHost(b.host)).map((b) => b.text);
}
