import { FENCE_PARAM, Fenced, PositiveInt, Query } from '../../../schemas/http/common.js';
import { auditBy } from '../../http/actor.js';
import { replayHeaders, requestIdem } from '../../http/idempotency.js';
import { fail } from '../../errors.js';
import type { Ctx } from '../../http/context.js';
import { send, sendJson, sendJsonText, sendValue, sendWritten, sendWrittenJson, type HeaderList } from '../../http/reply.js';
import { stateTtl, txnOps } from './txn.js';
import { putReplyJson, txnReplyJson } from './reply-json.js';
import { type Route, STORED } from '../../http/route.js';
import { decoded, pathName } from '../../http/path.js';
import { checkName } from '../../names.js';
import { EphemeralHeader, StateDeletedReply, StateDiffReply, StateHistoryReply, StateListReply, StatePutReply, StateRollbackReply, TtlHeader, TxnBody, TxnReply } from '../../../schemas/http/state.js';
import { fenceParam, parseIntStrict, positiveInt, queryParams } from '../../http/query.js';
import { jsonTooDeep } from '../../shared/json-depth.js';
import { JSON_MAX_DEPTH, STATE_HISTORY_DEFAULT_LIMIT, STATE_HISTORY_MAX_LIMIT, STATE_LIST_DEFAULT_LIMIT, STATE_LIST_MAX_LIMIT } from '../../shared/limits.js';
import type { CachedValue } from './cache.js';
import type { StateService } from './service.js';
import { pending } from '../../shared/awaitable.js';
import { projectQuery, queryValue, rule } from '../../http/permissions.js';
import type { Target } from '../../access.js';
import type { SocketRoute } from '../domain.js';
import { type ChangeFeed, mountWatch, SPECS_WATCH_PATH, STATE_WATCH_PATH } from './watch.js';

const PREFIX = '/api/state/';

/** What a state call touches (scoped tokens): the key of its path. */
const stateKey = { from: 'request', target: (ctx: Ctx): Target => ({ kind: 'state', name: decoded(ctx.url.slice(PREFIX.length)) }) } as const;
/** A key prefix narrows a listing (or a watch) to it: `prefix=web/` reads as the keys `web/**`. */
const stateList = { from: 'request', target: (ctx: Ctx): Target => ({ kind: 'state', name: queryValue(ctx, 'prefix') === null ? null : `${queryValue(ctx, 'prefix')}**` }) } as const;

/** `{key...}`: the rest of the path, URL-decoded, slashes allowed; bounded length, no NUL. */
const keyOf = (ctx: Ctx): string => pathName(ctx.url.slice(PREFIX.length), 'key');

/** Identity of the writer for `updated_by`: the agent's name when known, else "". */
const actor = (ctx: Ctx): string => ctx.identity?.name ?? '';

/** `X-Koor-Ephemeral: true`: the key is bound to the calling agent instance. */
function ephemeralOwner(ctx: Ctx): string | undefined {
  const raw = (ctx.extraHeaders['x-koor-ephemeral'] ?? '').trim().toLowerCase();
  if (raw === '' || raw === 'false' || raw === '0') return undefined;
  if (raw !== 'true' && raw !== '1') throw fail('EPHEMERAL_INVALID', raw);
  if (!ctx.identity) throw fail('EPHEMERAL_NEEDS_AGENT');
  return ctx.identity.instanceId;
}

const WATCH_QUERY = {
  since_revision: 'Replay the retained changes after this revision first (X-Koor-Oldest-Revision when older ones are gone)',
  values: 'true or 1: each change carries the value written',
};

/** The state and spec watches: WebSocket routes of this domain (./watch.ts). */
export function watchRoutes(deps: { feed: ChangeFeed; maxBytes: number }): SocketRoute[] {
  return [
    {
      method: 'GET',
      path: STATE_WATCH_PATH,
      summary: 'Watch state changes (WebSocket)',
      rule: rule('read', 'watch state', stateList),
      query: Query({ prefix: 'Only the keys starting with this', ...WATCH_QUERY }),
      mount: (slots, d) => mountWatch(slots, { ...d, ...deps }, STATE_WATCH_PATH),
    },
    {
      method: 'GET',
      path: SPECS_WATCH_PATH,
      summary: "Watch a project's spec changes (WebSocket)",
      rule: rule('read', 'watch specs', projectQuery),
      query: Query(WATCH_QUERY, { project: 'The project whose specs to watch' }),
      mount: (slots, d) => mountWatch(slots, { ...d, ...deps }, SPECS_WATCH_PATH),
    },
  ];
}

/** What the transaction route needs: the state service (its cache), and the fan-out of a publish op's event. */
export interface TxnDeps {
  state: StateService;
}

/**
 * `POST /api/txn`: `{"compare":[…],"success":[op…],"failure":[op…]}` in one writer
 * transaction, on both backends (checked by ./txn.ts); a publish op's event is fanned out once it
 * committed.
 */
function txnHandler(d: TxnDeps): (ctx: Ctx) => Promise<void> {
  /**
   * The last reply's bytes, for the same reply object: a lost compare's is made once per commit
   * and handed to each of its losers (StateService.lostReply), so each is written from one buffer
   * (no text built, and none converted to UTF-8 again).
   */
  let last: { res: object; bytes: Buffer } | null = null;
  return async (ctx) => {
    const { compare, success, failure } = txnOps(ctx.principal, ctx.json as TxnBody, fenceParam(ctx));
    const { res, replayed } = await d.state.txn({ compare, success, failure, updated_by: ctx.identity?.name ?? '' }, auditBy(ctx), requestIdem(ctx));
    if (!replayed) {
      if (res.events.length > 0) ctx.tally?.('events_published', res.events.length);
      // A write when it changed a key: a lost compare whose failure branch only read wrote nothing.
      if (res.results.some((r) => r.revision !== undefined)) ctx.tally?.('state_writes');
    }
    if (last === null || last.res !== res) last = { res, bytes: Buffer.from(`${txnReplyJson(res)}\n`) };
    send(ctx, 200, last.bytes, 'application/json', replayHeaders(replayed));
  };
}

/** `POST /api/txn`: compares and ops in one writer transaction. */
export function txnRoutes(d: TxnDeps): Route[] {
  return [
    {
      method: 'POST',
      path: '/api/txn',
      summary: 'Run compares and operations in one transaction',
      // A scoped token: the route checks every key and topic of the transaction (./txn.ts).
      rule: rule('write', 'run transactions'),
      replies: { 200: TxnReply },
      ...Fenced,
      body: 'json',
      schema: TxnBody,
      handler: txnHandler(d),
    },
  ];
}

export function stateRoutes(svc: StateService): Route[] {
  return [
    {
      method: 'GET',
      path: '/api/state',
      summary: 'List state keys (paged by key)',
      rule: rule('read', 'list state keys', stateList),
      replies: { 200: StateListReply },
      query: Query({ prefix: 'Only the keys starting with this', after: 'The last key of the previous page', limit: PositiveInt('Keys per page (default and most 5000)') }),
      // Paged (keyset on the key): `limit` (default and max 5000) and `after=<last key seen>`.
      // More keys → `Link: </api/state?after=…&limit=…>; rel="next"`; the body stays a plain array.
      handler: async (ctx) => {
        const q = queryParams(ctx);
        const limit = positiveInt(q, 'limit', STATE_LIST_DEFAULT_LIMIT, STATE_LIST_MAX_LIMIT);
        const prefix = q.get('prefix') ?? '';
        if (prefix !== '') checkName(prefix, 'prefix');
        const page = await svc.listPage(q.get('after') ?? '', limit, prefix);
        const more = prefix === '' ? '' : `&prefix=${encodeURIComponent(prefix)}`;
        const revision: [string, string] = ['X-Koor-Revision', String(page.revision)];
        const headers: HeaderList = page.next === null ? [revision] : [revision, ['Link', `</api/state?after=${encodeURIComponent(page.next)}&limit=${limit}${more}>; rel="next"`]];
        sendJsonText(ctx, 200, page.json, headers);
      },
    },
    {
      method: 'GET',
      path: '/api/state/*',
      summary: 'Read a state value (or its history, a diff, an earlier version)',
      rule: rule('read', 'read state', stateKey),
      replies: { 200: STORED, 304: true },
      modes: { history: StateHistoryReply, diff: StateDiffReply, version: STORED },
      query: Query({ history: '1: the versions kept, newest first', limit: PositiveInt('With history: how many versions'), diff: 'A,B: what changed from version A to version B', version: 'An earlier version, as stored' }),
      handler: (ctx) => {
        const key = keyOf(ctx);
        if (ctx.query !== '') {
          const q = queryParams(ctx);
          if (q.get('history')) return history(ctx, svc, key, positiveInt(q, 'limit', STATE_HISTORY_DEFAULT_LIMIT, STATE_HISTORY_MAX_LIMIT));
          if (q.has('diff')) return diff(ctx, svc, key, q.get('diff')!);
          if (q.has('version')) {
            const v = parseIntStrict(q.get('version')!);
            if (v === null) throw fail('VERSION_NOT_INTEGER');
            return atVersion(ctx, svc, key, v);
          }
        }
        // The hot path: a cache hit (or SQLite) answers before this handler returns, no closure made.
        const cur = svc.current(key);
        if (!pending(cur)) return sendCurrent(ctx, key, cur);
        return cur.then((c) => sendCurrent(ctx, key, c));
      },
    },
    {
      method: 'PUT',
      path: '/api/state/*',
      summary: 'Write a state value',
      rule: rule('write', 'write state', stateKey),
      replies: { 200: StatePutReply },
      query: Query({ ttl: 'The key expires this long after the write (X-Koor-TTL wins)', ...FENCE_PARAM }),
      body: 'raw',
      headers: { 'x-koor-ttl': TtlHeader, 'x-koor-ephemeral': EphemeralHeader, ...Fenced.headers },
      handler: async (ctx) => {
        const key = keyOf(ctx);
        if (ctx.body.length === 0) throw fail('EMPTY_BODY');
        const contentType = ctx.headers.contentType || 'application/json';
        // A value sent as JSON is walked later (?diff=, contracts): its nesting is bounded.
        // Bytes sent with no Content-Type are stored as they are (?diff= refuses a deep one itself).
        if (ctx.headers.contentType.includes('json') && jsonTooDeep(ctx.body)) throw fail('JSON_TOO_DEEP', JSON_MAX_DEPTH);
        const ttlHeader = ctx.extraHeaders['x-koor-ttl'];
        const ttlMs = stateTtl(ttlHeader !== '' ? ttlHeader : ctx.query === '' ? null : queryParams(ctx).get('ttl'));
        const owner = ephemeralOwner(ctx);
        const fence = fenceParam(ctx);
        // One literal, absent parts undefined (no defined() object per PUT: allocations cost PUT throughput).
        const r = await svc.put({ key, value: ctx.body, contentType, updatedBy: actor(ctx), ifMatch: ctx.headers.ifMatch, ifNoneMatch: ctx.headers.ifNoneMatch, ttlMs, owner, fence }, auditBy(ctx));
        ctx.tally?.('state_writes');
        sendWrittenJson(ctx, putReplyJson(r), `"${r.hash}"`, r.version, r.revision);
      },
    },
    {
      method: 'POST',
      path: '/api/state/*',
      summary: 'Roll a state value back to an earlier version',
      rule: rule('write', 'write state', stateKey),
      replies: { 200: StateRollbackReply },
      query: Query(FENCE_PARAM, { rollback: 'The version to write again as a new one' }),
      body: 'raw',
      headers: Fenced.headers,
      handler: async (ctx) => {
        const key = keyOf(ctx);
        const raw = queryParams(ctx).get('rollback');
        if (raw === null || raw === '') throw fail('ROLLBACK_REQUIRED');
        const v = parseIntStrict(raw);
        if (v === null) throw fail('ROLLBACK_NOT_INTEGER');
        const r = await svc.rollback(key, v, auditBy(ctx), fenceParam(ctx));
        ctx.tally?.('state_writes');
        sendWritten(ctx, r);
      },
    },
    {
      method: 'DELETE',
      path: '/api/state/*',
      summary: 'Delete a state value',
      rule: rule('write', 'delete state', stateKey),
      replies: { 200: StateDeletedReply },
      ...Fenced,
      handler: async (ctx) => {
        const key = keyOf(ctx);
        const r = await svc.delete(key, ctx.headers.ifMatch || undefined, auditBy(ctx), actor(ctx), fenceParam(ctx));
        ctx.tally?.('state_writes');
        sendJson(ctx, 200, r);
      },
    },
  ];
}

function sendCurrent(ctx: Ctx, key: string, cur: CachedValue | undefined): void {
  if (!cur) throw fail('KEY_NOT_FOUND', key);
  sendValue(ctx, cur.value, cur.contentType, cur.etag, cur.versionText, cur.revisionText);
}

async function history(ctx: Ctx, svc: StateService, key: string, limit: number): Promise<void> {
  sendJson(ctx, 200, { key, versions: await svc.history(key, limit) });
}

async function atVersion(ctx: Ctx, svc: StateService, key: string, v: number): Promise<void> {
  const row = await svc.atVersion(key, v);
  if (!row) throw fail('VERSION_NOT_FOUND', v, key);
  send(ctx, 200, row.value, row.content_type, [['X-Koor-Version', String(row.version)]]);
}

async function diff(ctx: Ctx, svc: StateService, key: string, spec: string): Promise<void> {
  const comma = spec.indexOf(',');
  if (comma < 0) throw fail('DIFF_NEEDS_TWO');
  const v1 = parseIntStrict(spec.slice(0, comma).trim());
  const v2 = parseIntStrict(spec.slice(comma + 1).trim());
  if (v1 === null || v2 === null) throw fail('DIFF_NOT_INTEGERS');
  sendJsonText(ctx, 200, await svc.diff(key, v1, v2));
}
