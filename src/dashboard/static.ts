import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import { errorMessage } from '../../schemas/error-catalogue.js';
import { fail } from '../errors.js';
import { createCtx, type Ctx } from '../http/context.js';
import { send, sendError, type HeaderList } from '../http/reply.js';
import type { Slots } from '../http/slots.js';
import type { Logger } from '../log.js';
import type { HttpMetrics } from '../metrics/http.js';

/**
 * The dashboard's static files: the client app built by `npm run build`
 * (dashboard/build.mjs, esbuild) into dist/dashboard, served from memory by the dashboard
 * listener. Public, like /health: they hold no data (every figure comes from the token-checked
 * API). Nothing is built or compressed at request time: the build writes `.br` and `.gz`
 * siblings, and the server picks the variant the client accepts.
 */

/** Page routes served here (for the router's 404/405 table). */
export const DASHBOARD_ROUTES: ReadonlyArray<{ method: 'GET'; path: string }> = [
  { method: 'GET', path: '/' },
  { method: 'GET', path: '/assets/*' },
];

/** dist/dashboard of this checkout or install: found from this module, in src/ (tests) or dist/src/. */
export function defaultDashboardDir(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(path.join(dir, 'dist'))) return path.join(dir, 'dist', 'dashboard');
    const up = path.dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'dashboard');
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

/**
 * The page may load only what it came with and talk only to its own origin (fetch and the event
 * WebSocket: CSP 3's 'self' covers ws: of the same host): nothing leaves the LAN.
 */
const PAGE_CSP = "default-src 'self'; img-src 'self' data: blob:; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
/** Hashed file names (`app-<hash>.js`) never change content: cached for a year. */
const IMMUTABLE = 'public, max-age=31536000, immutable';
/** index.html names the current hashed files: revalidated on every load (cheap with its ETag). */
const REVALIDATE = 'no-cache';

interface Variant {
  body: Buffer;
  /** Full header list of a 200 (a 304 sends the same minus Content-Encoding). */
  headers: HeaderList;
  notModified: HeaderList;
}

interface Asset {
  type: string;
  /** Every ETag of the file (one per encoding): any of them in If-None-Match means unchanged. */
  etags: Set<string>;
  identity: Variant;
  br: Variant | null;
  gzip: Variant | null;
}

function variant(body: Buffer, etag: string, common: HeaderList, encoding: string | null, vary: boolean): Variant {
  const base: Array<readonly [string, string]> = [['ETag', etag], ...common];
  if (vary) base.push(['Vary', 'Accept-Encoding']);
  const headers = encoding === null ? base : [...base, ['Content-Encoding', encoding] as const];
  return { body, headers, notModified: base };
}

/** The built files, read once. */
export class DashboardAssets {
  private constructor(
    private readonly files: Map<string, Asset>,
    /** The index.html that was not there (the dashboard is not built), or null. */
    private readonly missingIndex: string | null,
  ) {}

  /** Why there is nothing to serve (not built), or null: the message a request for a page gets. */
  get missing(): string | null {
    return this.missingIndex === null ? null : errorMessage('DASHBOARD_NOT_BUILT', this.missingIndex);
  }

  /** Reads `dir` (synchronously: a handful of small files, once per start). */
  static load(dir: string): DashboardAssets {
    const index = path.join(dir, 'index.html');
    if (!fs.existsSync(index)) return new DashboardAssets(new Map(), index);
    const files = new Map<string, Asset>();
    const add = (urlPath: string, file: string, cache: string, extra: HeaderList) => {
      const type = TYPES[path.extname(file)] ?? 'application/octet-stream';
      const body = fs.readFileSync(file);
      const tag = createHash('sha256').update(body).digest('base64url').slice(0, 27);
      const read = (suffix: string) => (fs.existsSync(file + suffix) ? fs.readFileSync(file + suffix) : null);
      const br = read('.br');
      const gz = read('.gz');
      const vary = br !== null || gz !== null;
      const common: HeaderList = [['Cache-Control', cache], ['X-Content-Type-Options', 'nosniff'], ...extra];
      const a: Asset = {
        type,
        etags: new Set([`"${tag}"`]),
        identity: variant(body, `"${tag}"`, common, null, vary),
        br: br && variant(br, `"${tag}-br"`, common, 'br', vary),
        gzip: gz && variant(gz, `"${tag}-gz"`, common, 'gzip', vary),
      };
      if (a.br) a.etags.add(`"${tag}-br"`);
      if (a.gzip) a.etags.add(`"${tag}-gz"`);
      files.set(urlPath, a);
    };
    add('/', index, REVALIDATE, [
      ['Content-Security-Policy', PAGE_CSP],
      ['Referrer-Policy', 'no-referrer'],
      ['X-Frame-Options', 'DENY'],
    ]);
    const assets = path.join(dir, 'assets');
    if (fs.existsSync(assets)) {
      for (const name of fs.readdirSync(assets)) {
        if (name.endsWith('.br') || name.endsWith('.gz')) continue;
        const file = path.join(assets, name);
        if (fs.statSync(file).isFile()) add(`/assets/${name}`, file, IMMUTABLE, []);
      }
    }
    return new DashboardAssets(files, null);
  }

  /** Answers GET/HEAD of `urlPath`: the best encoding the client accepts, 304 when unchanged. */
  serve(ctx: Ctx, urlPath: string, acceptEncoding: string, ifNoneMatch: string): void {
    const a = this.files.get(urlPath);
    if (!a) throw this.missingIndex === null ? fail('ROUTE_NOT_FOUND') : fail('DASHBOARD_NOT_BUILT', this.missingIndex);
    const v = (a.br && accepts(acceptEncoding, 'br') ? a.br : null) ?? (a.gzip && accepts(acceptEncoding, 'gzip') ? a.gzip : null) ?? a.identity;
    if (ifNoneMatch !== '' && matchesAny(ifNoneMatch, a.etags)) return send(ctx, 304, '', null, v.notModified);
    send(ctx, 200, v.body, a.type, v.headers);
  }
}

/** Whether an Accept-Encoding header accepts `coding` (listed with q > 0; `*` counts). */
function accepts(header: string, coding: string): boolean {
  if (header === '') return false;
  let star = false;
  for (const part of header.split(',')) {
    const [name = '', ...params] = part.split(';');
    const n = name.trim().toLowerCase();
    if (n !== coding && n !== '*') continue;
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    const ok = q === undefined || Number(q.slice(2)) > 0;
    if (n === coding) return ok;
    star = ok;
  }
  return star;
}

/** If-None-Match (a list, weak or strong, or `*`) names one of `etags` (weak comparison, RFC 9110). */
function matchesAny(header: string, etags: Set<string>): boolean {
  if (header.trim() === '*') return true;
  for (const raw of header.split(',')) {
    const t = raw.trim();
    if (etags.has(t.startsWith('W/') ? t.slice(2) : t)) return true;
  }
  return false;
}

/** Registers `/` and `/assets/*` (GET and HEAD, no auth) on the dashboard listener. */
export function mountDashboard(slots: Slots, assets: DashboardAssets, opts: { log: Logger; http?: HttpMetrics }): void {
  for (const route of DASHBOARD_ROUTES) {
    const recorders = { GET: opts.http?.recorder('GET', route.path) ?? null, HEAD: opts.http?.recorder('HEAD', route.path) ?? null };
    const handle = (res: HttpResponse, req: HttpRequest): void => {
      // Answered at once (from memory): no abort handler needed.
      const ctx = createCtx(res, req, 0, true, true);
      ctx.onSent = ctx.method === 'HEAD' ? recorders.HEAD : recorders.GET;
      try {
        assets.serve(ctx, ctx.url, req.getHeader('accept-encoding'), ctx.headers.ifNoneMatch);
      } catch (err) {
        sendError(ctx, err, opts.log);
      }
    };
    slots.route('get', route.path, handle);
    slots.route('head', route.path, handle);
  }
}
