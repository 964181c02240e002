import { Type, type Static } from '../typebox.js';

/*
 * Replies of the server's own routes: health, metrics and the API description.
 * GET /metrics is Prometheus text: no schema. The agents' counters are in agent-metrics.ts, the
 * restore's reply in admin.ts.
 */

/** GET /health (both listeners); the boot id is a header, not a member. */
export const HealthReply = Type.Object({
  /** `degraded`: the server answers, but something needs the operator (`storage` says what). */
  status: Type.Union([Type.Literal('ok'), Type.Literal('degraded')]),
  uptime: Type.String(),
  /** Present when degraded by a full disk: since when, and that writes answer 507 until space is freed. */
  storage: Type.Optional(Type.String()),
  /**
   * The liveness monitor's clock: the probe's last and largest lateness, ms; how many
   * absences (hold-ups, wall-clock steps) it noticed; ms left of the grace during which nobody goes stale.
   */
  liveness: Type.Object({ lag_ms: Type.Integer(), max_lag_ms: Type.Integer(), absences: Type.Integer(), grace_ms: Type.Integer() }),
});
export type HealthReply = Static<typeof HealthReply>;

/** An object of numbers, by name: a group of figures. */
const Figures = <K extends string>(...names: K[]) => Type.Object(Object.fromEntries(names.map((n) => [n, Type.Number()])) as Record<K, ReturnType<typeof Type.Number>>);

/**
 * GET /api/metrics: the original Go server's figures (uptime … token_tax), then this server's own (events,
 * writer, pool, cache, webhooks, data file, retention), which the dashboard's overview shows.
 */
export const MetricsReply = Type.Object({
  uptime: Type.String(),
  state_keys: Type.Integer(),
  instances: Type.Integer(),
  last_event_id: Type.Integer(),
  mcp_sessions: Type.Integer(),
  events: Figures('subscribers', 'delivered', 'dropped', 'closed_slow', 'replayed', 'queued_bytes'),
  writer: Figures('calls', 'queue_depth', 'restarts', 'commit_failures', 'checkpoints_background', 'checkpoints_tail', 'checkpoints_inline', 'deadline_exceeded', 'rejected_full'),
  pool: Figures('jobs', 'queue_depth', 'timeouts', 'rejected_full'),
  cache: Figures('hits', 'misses', 'bytes'),
  webhooks: Figures('delivered', 'failed', 'dropped', 'disabled', 'pending'),
  data_file_bytes: Type.Number(),
  /** Settings and counts of the retention job, by name. */
  retention: Type.Record(Type.String(), Type.Number()),
  api_bind: Type.String(),
  dashboard_bind: Type.String(),
  token_tax: Figures('mcp_calls', 'rest_calls', 'total_calls', 'mcp_estimated_tokens', 'rest_tokens_saved', 'savings_percent'),
});
export type MetricsReply = Static<typeof MetricsReply>;

/** POST /api/metrics/reset. */
export const MetricsResetReply = Type.Object({ reset: Type.Literal(true) });
export type MetricsResetReply = Static<typeof MetricsResetReply>;

/**
 * GET /api/openapi.json: the API described in OpenAPI 3.1 (src/http/openapi.ts), checked whole by
 * an OpenAPI validator in test/http/openapi.test.ts; here only its outline.
 */
export const OpenApiReply = Type.Object({
  openapi: Type.String(),
  info: Type.Object({ title: Type.String(), version: Type.String() }),
  paths: Type.Record(Type.String(), Type.Object({})),
  components: Type.Object({}),
});
export type OpenApiReply = Static<typeof OpenApiReply>;
