/**
 * LLM usage and cost per project, agent, model or session over time: totals from
 * GET /api/llm/usage/summary, and a uPlot chart of cost per hour or day built from the records
 * of the span (GET /api/llm/usage, at most LLM_CHART_MAX_RECORDS). uPlot is loaded only here.
 * Above them, each budget's spend in its current period as a bar against its cap.
 */
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type uPlot from 'uplot';
import type { Budget, LlmRecord } from '../../../schemas/http/llm.js';
import { getJson, query } from '../api.js';
import { ErrorNote, fmtInt, fmtUsd, html, message, Status, TableWrap, useLoad, useOnEvents } from '../ui.js';

const GROUPS = [
  { key: 'project', label: 'Project', field: 'project' },
  { key: 'instance', label: 'Agent', field: 'instance_id' },
  { key: 'model', label: 'Model', field: 'model' },
  { key: 'session_tag', label: 'Session', field: 'session_tag' },
] as const;
type GroupKey = (typeof GROUPS)[number]['key'];

const SPANS = [
  { key: '24h', label: 'Last 24 hours', ms: 86_400_000 },
  { key: '7d', label: 'Last 7 days', ms: 7 * 86_400_000 },
  { key: '30d', label: 'Last 30 days', ms: 30 * 86_400_000 },
  { key: 'all', label: 'All time', ms: 0 },
] as const;
type SpanKey = (typeof SPANS)[number]['key'];

/** Records read for the chart (the API's largest page). */
const LLM_CHART_MAX_RECORDS = 10_000;
/** Series drawn; smaller groups are summed as "other". */
const CHART_SERIES = 6;
/** Colour-blind-safe palette (Okabe–Ito), readable on white. */
const COLORS = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#555555'];

interface Series {
  xs: number[];
  names: string[];
  ys: number[][];
}

/** Cost per bucket (hour or day, UTC) and group; the biggest groups first. */
function bucketCost(records: readonly LlmRecord[], field: (typeof GROUPS)[number]['field'], bucketS: number, label: (v: string) => string): Series {
  const totals = new Map<string, number>();
  for (const r of records) totals.set(r[field], (totals.get(r[field]) ?? 0) + (r.cost_usd ?? 0));
  const ranked = [...totals.entries()].sort((a, b) => b[1] - a[1]).map(([k]) => k);
  const top = ranked.slice(0, ranked.length > CHART_SERIES ? CHART_SERIES - 1 : CHART_SERIES);
  const other = ranked.length > top.length;
  const index = new Map(top.map((k, i) => [k, i]));
  const buckets = new Map<number, number[]>();
  for (const r of records) {
    // Plotted at the middle of its hour or day, so the bar covers the bucket it counts.
    const t = Math.floor(Date.parse(r.created_at) / 1000 / bucketS) * bucketS + bucketS / 2;
    let row = buckets.get(t);
    if (!row) buckets.set(t, (row = new Array<number>(top.length + (other ? 1 : 0)).fill(0)));
    row[index.get(r[field]) ?? top.length] += r.cost_usd ?? 0;
  }
  const xs = [...buckets.keys()].sort((a, b) => a - b);
  const names = [...top.map(label), ...(other ? ['other'] : [])];
  const ys = names.map((_, i) => xs.map((x) => Math.round(buckets.get(x)![i]! * 1e6) / 1e6));
  return { xs, names, ys };
}

/** The x range in seconds: the span up to now, or the data padded by a bucket each side. */
function chartRange(xs: readonly number[], spanMs: number, now: number, bucketS: number): [number, number] {
  const end = Math.ceil(now / 1000 / bucketS) * bucketS;
  if (spanMs !== 0) return [end - Math.ceil(spanMs / 1000 / bucketS) * bucketS, end];
  return [xs[0]! - bucketS, Math.max(xs[xs.length - 1]! + bucketS, end)];
}

function Chart({ series, bucket, range }: { series: Series; bucket: string; range: [number, number] }) {
  const box = useRef<HTMLDivElement>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let plot: uPlot | null = null;
    let observer: ResizeObserver | null = null;
    let cancelled = false;
    import('uplot').then(
      ({ default: UPlot }) => {
        const el = box.current;
        if (cancelled || !el) return;
        const width = Math.max(280, el.clientWidth);
        // Stacked bars: each group's bar stands on the ones before it; the tallest (the bucket's
        // total) is drawn first so the smaller stacks show in front of it.
        const stacked = series.ys.map((_, i) => series.xs.map((_x, j) => series.ys.slice(0, i + 1).reduce((a, y) => a + y[j]!, 0)));
        const order = series.names.map((_, i) => i).reverse();
        const bars = UPlot.paths.bars!({ size: [0.7, 40] });
        plot = new UPlot(
          {
            width,
            height: 300,
            // The span asked for (a single point would otherwise stretch over years).
            scales: { x: { time: true, range: () => range }, y: { range: (_u: uPlot, _min: number, max: number) => [0, max > 0 ? max * 1.15 : 1] } },
            series: [{}, ...order.map((i) => ({ label: series.names[i], stroke: COLORS[i % COLORS.length], fill: COLORS[i % COLORS.length], width: 1, paths: bars, points: { show: false } }))],
            axes: [{}, { label: `USD per ${bucket}`, values: (_u: uPlot, vals: number[]) => vals.map((v) => fmtUsd(v)), size: 70 }],
            legend: { live: false },
          },
          [series.xs, ...order.map((i) => stacked[i]!)],
          el,
        );
        observer = new ResizeObserver(() => plot?.setSize({ width: Math.max(280, el.clientWidth), height: 300 }));
        observer.observe(el);
      },
      (e: unknown) => setError(`The chart could not load: ${message(e)}`),
    );
    return () => {
      cancelled = true;
      observer?.disconnect();
      plot?.destroy();
    };
  }, [series, bucket, range[0], range[1]]);
  return html`<${ErrorNote} error=${error} /><div ref=${box} class="chart" aria-hidden="true"></div>`;
}

const STATUS_LABEL = { ok: 'within budget', warning: 'past its warning', exceeded: 'exceeded: claims refused' } as const;

/** One bar per budget: the period's spend against the cap (the fuller of dollars and tokens). */
function Budgets({ list }: { list: readonly Budget[] }) {
  if (list.length === 0) return null;
  return html`<section class="panel" aria-labelledby="llm-budgets-h">
    <h2 id="llm-budgets-h">Budgets</h2>
    <ul class="budgets">
      ${list.map((b) => {
        const pct = Math.min(100, Math.round(b.fill * 100));
        const caps = [b.usd !== null ? `${fmtUsd(b.spent_usd)} of ${fmtUsd(b.usd)}` : '', b.tokens !== null ? `${fmtInt(b.spent_tokens)} of ${fmtInt(b.tokens)} tokens` : ''].filter((x) => x !== '').join(' · ');
        return html`<li key=${b.scope} class=${`budget ${b.status}`} data-budget=${b.scope}>
          <div class="budget-head"><strong>${b.scope}</strong><span class="muted small">${b.period} ${b.period_key}</span><span class="small">${caps}${b.unpriced > 0 ? ` (${fmtInt(b.unpriced)} unpriced)` : ''}</span><span class="small">${STATUS_LABEL[b.status]}</span></div>
          <div class="bar" role="progressbar" aria-label=${`${b.scope} spend`} aria-valuemin="0" aria-valuemax="100" aria-valuenow=${pct}>
            <span style=${`width:${pct}%`}></span><i style=${`left:${Math.min(100, b.warn_at * 100)}%`} title="warning"></i>
          </div>
        </li>`;
      })}
    </ul>
  </section>`;
}

export function LlmPage() {
  const [group, setGroup] = useState<GroupKey>('project');
  const [span, setSpan] = useState<SpanKey>('7d');
  const [now, setNow] = useState(Date.now());
  const spec = SPANS.find((s) => s.key === span)!;
  const from = spec.ms === 0 ? '' : new Date(now - spec.ms).toISOString().replace(/\.\d+Z$/, 'Z');
  const g = GROUPS.find((x) => x.key === group)!;
  const summary = useLoad(() => getJson<'GET /api/llm/usage/summary'>(`/api/llm/usage/summary${query({ group_by: group, from })}`), [group, from]);
  const records = useLoad(() => getJson<'GET /api/llm/usage'>(`/api/llm/usage${query({ from, limit: LLM_CHART_MAX_RECORDS })}`), [from]);
  const agents = useLoad(() => getJson<'GET /api/instances'>('/api/instances'), []);
  const budgets = useLoad(() => getJson<'GET /api/budgets'>('/api/budgets'), [now]);
  useOnEvents('llm.usage.recorded', () => setNow(Date.now()), 1000);

  const names = new Map((agents.data ?? []).map((a) => [a.id, a.name]));
  const label = (v: string) => (v === '' ? '(none)' : group === 'instance' ? (names.get(v) ?? v.slice(0, 8)) : v);
  const recs = records.data ?? [];
  const bucketS = spec.ms !== 0 && spec.ms <= 2 * 86_400_000 ? 3600 : 86_400;
  const series = useMemo(() => (recs.length === 0 ? null : bucketCost(recs, g.field, bucketS, label)), [records.data, group, agents.data, bucketS]);
  const rows = Object.entries(summary.data?.groups ?? {}).sort((a, b) => b[1].total_cost_usd - a[1].total_cost_usd);
  const total = summary.data?.total;

  return html`<h1>LLM usage and cost</h1>
    <div class="filters" role="group" aria-label="Chart options">
      <div class="field"><label for="llm-group">Per</label><select id="llm-group" value=${group} onChange=${(e: Event) => setGroup((e.target as HTMLSelectElement).value as GroupKey)}>${GROUPS.map((x) => html`<option value=${x.key}>${x.label}</option>`)}</select></div>
      <div class="field"><label for="llm-span">Span</label><select id="llm-span" value=${span} onChange=${(e: Event) => (setSpan((e.target as HTMLSelectElement).value as SpanKey), setNow(Date.now()))}>${SPANS.map((x) => html`<option value=${x.key}>${x.label}</option>`)}</select></div>
    </div>
    ${total
      ? html`<dl class="figures panel" aria-label="Totals">
          <div class="figure"><dt>Cost</dt><dd data-llm="cost">${fmtUsd(total.total_cost_usd)}</dd></div>
          <div class="figure"><dt>Requests</dt><dd>${fmtInt(total.request_count)}</dd></div>
          <div class="figure"><dt>Tokens in</dt><dd>${fmtInt(total.total_tokens_in)}</dd></div>
          <div class="figure"><dt>Tokens out</dt><dd>${fmtInt(total.total_tokens_out)}</dd></div>
        </dl>`
      : null}
    <${Budgets} list=${budgets.data ?? []} />
    <section class="panel" aria-labelledby="llm-chart-h">
      <h2 id="llm-chart-h">Cost per ${bucketS === 3600 ? 'hour' : 'day'} and ${g.label.toLowerCase()} (UTC, stacked)</h2>
      <${Status} loading=${records.loading && !records.data} error=${records.error} />
      ${recs.length >= LLM_CHART_MAX_RECORDS ? html`<p class="muted small">The chart shows the newest ${fmtInt(LLM_CHART_MAX_RECORDS)} records of the span; the table below counts them all.</p>` : null}
      ${series ? html`<${Chart} series=${series} bucket=${bucketS === 3600 ? 'hour' : 'day'} range=${chartRange(series.xs, spec.ms, now, bucketS)} />` : !records.loading ? html`<p class="muted">No LLM usage recorded in this span. Agents record it with <code>POST /api/llm/usage</code>.</p>` : null}
    </section>
    <section class="panel" aria-labelledby="llm-table-h">
      <h2 id="llm-table-h">Totals per ${g.label.toLowerCase()}</h2>
      <${Status} loading=${summary.loading && !summary.data} error=${summary.error} />
      ${rows.length > 0
        ? html`<${TableWrap} label=${`LLM totals per ${g.label.toLowerCase()}`}>
            <table>
              <thead><tr><th scope="col">${g.label}</th><th scope="col">Cost</th><th scope="col">Requests</th><th scope="col">Tokens in</th><th scope="col">Tokens out</th></tr></thead>
              <tbody>${rows.map(([k, s]) => html`<tr key=${k}><th scope="row">${label(k)}</th><td class="num">${fmtUsd(s.total_cost_usd)}</td><td class="num">${fmtInt(s.request_count)}</td><td class="num">${fmtInt(s.total_tokens_in)}</td><td class="num">${fmtInt(s.total_tokens_out)}</td></tr>`)}</tbody>
            </table>
          <//>`
        : null}
    </section>`;
}
