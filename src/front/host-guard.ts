import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import { hostName, type Bind } from '../config-values.js';
import { fail } from '../errors.js';
import { createCtx } from '../http/context.js';
import { sendError } from '../http/reply.js';
import type { Gate } from '../http/slots.js';
import type { Logger } from '../log.js';
import { rateLimited } from '../shared/rate-limited.js';
import { isLoopbackHost } from './listen.js';
import { HOST_GUARD_REMEMBERED_MAX } from '../shared/limits-features.js';

/** The names a client on this machine reaches a loopback listener by (any port). */
const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '[::1]'];
const IPV4 = /^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/;
const LOOPBACK_IPV4 = /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/;

export interface GuardOptions {
  /** The listener's own address. */
  bind: Bind;
  /** --allowed-hosts (normalized names, `*` = any). */
  allowedHosts: readonly string[];
  /** --allowed-origins (normalized origins, `*` = any). */
  allowedOrigins: readonly string[];
  /** The listeners' own origins (API and dashboard, each name they are reached by on their ports). */
  ownOrigins: readonly string[];
  log: Logger;
}

/**
 * Safe by default: a web page the user visits must not reach a Koor on this machine.
 * Two checks, before any route runs (REST, WebSocket upgrades, /mcp, the dashboard, /health):
 *
 * - **Host** (DNS rebinding: a page points its own name at 127.0.0.1, its requests then carry
 *   `Host: evil.example.com`). A listener bound to loopback serves the loopback names (`localhost`,
 *   127.0.0.0/8, `[::1]`, any port) and `--allowed-hosts`. Bound beyond loopback it serves any Host
 *   unless `--allowed-hosts` is given (LAN users, containers and service names reach it by names it
 *   cannot know); then the loopback names, IP addresses (no DNS, so nothing to rebind) and those.
 * - **Origin** (a browser's cross-site request): none (a CLI, an agent, curl) is fine; else it
 *   must be the request's own origin (`http(s)://` + its Host: the dashboard's page calling its own
 *   listener), one of the listeners' own origins (API and dashboard), or in `--allowed-origins`.
 *
 * The hot path is one Set lookup per header: a Host value (port included) once found allowed is
 * remembered, and a request without Origin (every non-browser client) stops at that.
 */
export class HostGuard implements Gate {
  /** Host header values (with their port) allowed; null = any Host. */
  private readonly hosts: Set<string> | null;
  private readonly names: ReadonlySet<string>;
  private readonly loopback: boolean;
  /** Origin header values allowed; null = any. */
  private readonly origins: Set<string> | null;
  private readonly warn: (obj: Record<string, unknown>, msg: string) => void;

  constructor(private readonly o: GuardOptions) {
    this.loopback = isLoopbackHost(o.bind.host);
    const anyHost = o.allowedHosts.includes('*') || (!this.loopback && o.allowedHosts.length === 0);
    const bound = o.bind.host.toLowerCase();
    const boundName = bound === '' ? null : bound.includes(':') ? `[${bound}]` : bound;
    this.names = new Set([...LOOPBACK_NAMES, ...o.allowedHosts, ...(boundName === null ? [] : [boundName])]);
    // '' (no Host: HTTP/1.0) is no browser's request.
    this.hosts = anyHost ? null : new Set(['']);
    this.origins = o.allowedOrigins.includes('*') ? null : new Set([...o.allowedOrigins, ...o.ownOrigins]);
    this.warn = rateLimited(o.log);
  }

  /** true: the request may go on; false: it was refused here (answered 403 naming the header). */
  pass(res: HttpResponse, req: HttpRequest): boolean {
    const host = req.getHeader('host');
    const hosts = this.hosts;
    if (hosts !== null && !hosts.has(host) && !this.hostAllowed(hosts, host)) return this.refuse(res, req, 'host', host);
    const origin = req.getHeader('origin');
    const origins = this.origins;
    if (origin === '' || origins === null || origins.has(origin) || this.sameOrigin(origins, origin, host)) return true;
    return this.refuse(res, req, 'origin', origin);
  }

  /** The slow path: a Host value not seen yet (its port stripped, its name looked up). */
  private hostAllowed(hosts: Set<string>, host: string): boolean {
    const name = hostName(host.toLowerCase());
    if (name === null) return false;
    let ok = this.names.has(name);
    // 127.0.0.0/8 is loopback; beyond loopback, an IP address is no name a page can rebind.
    if (!ok) ok = this.loopback ? LOOPBACK_IPV4.test(name) : IPV4.test(name) || name.startsWith('[');
    if (ok && hosts.size < HOST_GUARD_REMEMBERED_MAX) hosts.add(host);
    return ok;
  }

  /** The page's own listener: `http(s)://` + the Host it called (behind a TLS proxy the scheme differs). */
  private sameOrigin(origins: Set<string>, origin: string, host: string): boolean {
    if (host === '') return false;
    const ok = origin.length === host.length + (origin.startsWith('https://') ? 8 : 7) && origin.endsWith(host) && (origin.startsWith('http://') || origin.startsWith('https://'));
    if (ok && origins.size < HOST_GUARD_REMEMBERED_MAX + this.o.allowedOrigins.length + this.o.ownOrigins.length) origins.add(origin);
    return ok;
  }

  private refuse(res: HttpResponse, req: HttpRequest, header: 'host' | 'origin', value: string): false {
    const ctx = createCtx(res, req, 0, false);
    this.warn({ [header]: value, method: ctx.method, url: ctx.url, bind: this.o.bind.text }, `refused a request whose ${header === 'host' ? 'Host' : 'Origin'} this server does not serve (allowed_${header}s)`);
    sendError(ctx, header === 'host' ? fail('HOST_NOT_ALLOWED', value) : fail('ORIGIN_NOT_ALLOWED', value), this.o.log);
    return false;
  }
}

/**
 * The origins a listener is reached by from this machine or as bound: `scheme://name:port` for
 * each name (the loopback names, and the bound address when it names one).
 */
export function ownOrigins(scheme: 'http' | 'https', listeners: ReadonlyArray<{ bind: Bind; port: number }>): string[] {
  const out = new Set<string>();
  for (const { bind, port } of listeners) {
    const bound = bind.host.toLowerCase();
    const names = [...LOOPBACK_NAMES];
    if (bound !== '' && bound !== '0.0.0.0' && bound !== '::') names.push(bound.includes(':') ? `[${bound}]` : bound);
    for (const name of names) out.add(`${scheme}://${name}:${port}`);
  }
  return [...out];
}
