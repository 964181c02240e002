/**
 * A strict reader of the Prometheus text exposition format 0.0.4, for tests: it throws on
 * anything a Prometheus server would reject or misread (a sample outside a declared family, a bad
 * name or label, an unescaped quote, a duplicate series, a histogram whose buckets are not
 * cumulative or do not end at +Inf = _count).
 */

export interface Series {
  labels: Record<string, string>;
  value: number;
}
export interface Histogram {
  labels: Record<string, string>;
  buckets: Array<{ le: number; count: number }>;
  sum: number;
  count: number;
}
export interface Family {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';
  series: Series[];
  histograms: Histogram[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** As Prometheus reads values (Go's ParseFloat: Inf and NaN in any case; prom-client writes "Nan"). */
function parseValue(s: string, line: string): number {
  const lower = s.toLowerCase();
  if (lower === '+inf' || lower === 'inf') return Infinity;
  if (lower === '-inf') return -Infinity;
  if (lower === 'nan') return NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s)) throw new Error(`bad value ${JSON.stringify(s)} in: ${line}`);
  return Number(s);
}

function parseSample(line: string): { name: string; labels: Record<string, string>; value: number } {
  let i = 0;
  while (i < line.length && line[i] !== '{' && line[i] !== ' ') i++;
  const name = line.slice(0, i);
  if (!NAME.test(name)) throw new Error(`bad metric name in: ${line}`);
  const labels: Record<string, string> = {};
  if (line[i] === '{') {
    i++;
    while (line[i] !== '}') {
      const eq = line.indexOf('=', i);
      if (eq < 0) throw new Error(`bad labels in: ${line}`);
      const key = line.slice(i, eq);
      if (!LABEL.test(key) || key in labels) throw new Error(`bad or repeated label ${key} in: ${line}`);
      if (line[eq + 1] !== '"') throw new Error(`unquoted label value in: ${line}`);
      let j = eq + 2;
      let v = '';
      for (; j < line.length && line[j] !== '"'; j++) {
        if (line[j] === '\\') {
          const e = line[++j];
          if (e === 'n') v += '\n';
          else if (e === '\\' || e === '"') v += e;
          else throw new Error(`bad escape in: ${line}`);
        } else v += line[j];
      }
      if (j >= line.length) throw new Error(`unterminated label value in: ${line}`);
      labels[key] = v;
      i = j + 1;
      if (line[i] === ',') i++;
      else if (line[i] !== '}') throw new Error(`bad labels in: ${line}`);
    }
    i++;
  }
  if (line[i] !== ' ') throw new Error(`no value in: ${line}`);
  const parts = line.slice(i + 1).split(' ');
  if (parts.length > 2) throw new Error(`trailing text in: ${line}`);
  return { name, labels, value: parseValue(parts[0]!, line) };
}

const keyOf = (labels: Record<string, string>) => JSON.stringify(Object.entries(labels).sort(([a], [b]) => a.localeCompare(b)));

export function parsePrometheus(text: string): Map<string, Family> {
  if (!text.endsWith('\n')) throw new Error('exposition must end with a newline');
  const families = new Map<string, Family>();
  const seen = new Set<string>();
  const hist = new Map<string, { h: Histogram; fam: Family }>();
  let current: Family | null = null;
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('# HELP ') || line.startsWith('# TYPE ')) {
      const [, kind, name, ...rest] = line.split(' ');
      if (!name || !NAME.test(name)) throw new Error(`bad name in: ${line}`);
      let f = families.get(name);
      if (!f) {
        f = { name, help: '', type: 'untyped', series: [], histograms: [] };
        families.set(name, f);
      }
      if (kind === 'HELP') f.help = rest.join(' ');
      else {
        const type = rest.join(' ');
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(type)) throw new Error(`bad type in: ${line}`);
        if (f.series.length > 0 || f.histograms.length > 0) throw new Error(`TYPE after samples in: ${line}`);
        f.type = type as Family['type'];
      }
      current = f;
      continue;
    }
    if (line.startsWith('#')) continue;
    const s = parseSample(line);
    const series = `${s.name}${keyOf(s.labels)}`;
    if (seen.has(series)) throw new Error(`duplicate series ${series}`);
    seen.add(series);
    if (!current) throw new Error(`sample before any family: ${line}`);
    if (current.type === 'histogram') {
      const suffix = ['_bucket', '_sum', '_count'].find((x) => s.name === current!.name + x);
      if (!suffix) throw new Error(`sample ${s.name} does not belong to histogram ${current.name}`);
      const { le, ...rest } = s.labels;
      const k = `${current.name}${keyOf(rest)}`;
      let entry = hist.get(k);
      if (!entry) {
        entry = { h: { labels: rest, buckets: [], sum: NaN, count: NaN }, fam: current };
        hist.set(k, entry);
        current.histograms.push(entry.h);
      }
      if (suffix === '_bucket') {
        if (le === undefined) throw new Error(`bucket without le: ${line}`);
        entry.h.buckets.push({ le: parseValue(le, line), count: s.value });
      } else if (suffix === '_sum') entry.h.sum = s.value;
      else entry.h.count = s.value;
      continue;
    }
    const expected = current.type === 'counter' ? [current.name, `${current.name}_total`] : [current.name];
    if (!expected.includes(s.name)) throw new Error(`sample ${s.name} does not belong to family ${current.name}`);
    if (current.type === 'counter' && !(s.value >= 0)) throw new Error(`negative counter: ${line}`);
    current.series.push({ labels: s.labels, value: s.value });
  }
  for (const [k, { h }] of hist) {
    const b = h.buckets;
    if (b.length === 0 || b[b.length - 1]!.le !== Infinity) throw new Error(`${k}: buckets must end at +Inf`);
    for (let i = 1; i < b.length; i++) {
      if (!(b[i]!.le > b[i - 1]!.le)) throw new Error(`${k}: bucket bounds not ascending`);
      if (b[i]!.count < b[i - 1]!.count) throw new Error(`${k}: buckets not cumulative`);
    }
    if (b[b.length - 1]!.count !== h.count) throw new Error(`${k}: +Inf bucket ${b[b.length - 1]!.count} != _count ${h.count}`);
    if (Number.isNaN(h.sum)) throw new Error(`${k}: no _sum`);
  }
  return families;
}

/** The value of the one series of `name` whose labels include `labels`. */
export function valueOf(m: Map<string, Family>, name: string, labels: Record<string, string> = {}): number {
  const f = m.get(name);
  if (!f) throw new Error(`no metric ${name}`);
  const hits = f.series.filter((x) => Object.entries(labels).every(([k, v]) => x.labels[k] === v));
  if (hits.length !== 1) throw new Error(`${hits.length} ${name} series match ${JSON.stringify(labels)}`);
  return hits[0]!.value;
}

export function histogramOf(m: Map<string, Family>, name: string, labels: Record<string, string> = {}): Histogram {
  const f = m.get(name);
  if (!f || f.type !== 'histogram') throw new Error(`no histogram ${name}`);
  const hits = f.histograms.filter((x) => Object.entries(labels).every(([k, v]) => x.labels[k] === v));
  if (hits.length !== 1) throw new Error(`${hits.length} ${name} histograms match ${JSON.stringify(labels)}`);
  return hits[0]!;
}
