/**
 * What the scale suite reads off the servers it measures: the memory their processes hold, the
 * hook route's latency histogram and the read and write counts from their /metrics, and a
 * quantile of that histogram between two readings.
 */
import fs from 'node:fs';

/**
 * The server's resident memory, MB: `anon` what it holds (heaps, caches, per-agent state: the
 * bound applies to it), `file` pages of the database file it maps (the reader's mmap: the page
 * cache of what was read, which the kernel reclaims).
 */
export function rssMb(pids: number[]): { anon: number; file: number } {
  let anon = 0;
  let file = 0;
  for (const pid of pids) {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
    anon += kb('RssAnon');
    file += kb('RssFile') + kb('RssShmem');
  }
  return { anon: Math.round(anon / 1024), file: Math.round(file / 1024) };
}

/**
 * The hook route's latency as the servers measured it (request read → reply written: not the
 * time a request waited before its node's event loop read it; SessionStart's too, a few),
 * cumulative per bucket bound; with the read statements, writer calls and the writers' batches
 * (transactions: a wake-up of the writer and a commit each) every node counted, and the V8 heaps
 * of the front and writer threads, MB (the two largest parts of what `rssMb` calls `anon`).
 */
export async function serverReadings(urls: string[]): Promise<{ buckets: Map<string, number>; reads: number; writes: number; batches: number; heapMb: { main: number; writer: number } }> {
  const m = new Map<string, number>();
  let reads = 0;
  let writes = 0;
  let batches = 0;
  let mainHeap = 0;
  let writerHeap = 0;
  for (const u of urls) {
    const text = await (await fetch(`${u}/metrics`)).text();
    for (const line of text.split('\n')) {
      const value = Number(line.slice(line.lastIndexOf(' ') + 1));
      if (line.startsWith('koor_db_reads_total ')) reads += value;
      if (line.startsWith('koor_writer_calls_total ')) writes += value;
      if (line.startsWith('koor_writer_batch_size_count ')) batches += value;
      if (line.startsWith('nodejs_heap_size_total_bytes ')) mainHeap += value;
      if (line.startsWith('koor_writer_heap_bytes{kind="total"} ')) writerHeap += value;
      if (!line.startsWith('koor_http_request_duration_seconds_bucket{') || !line.includes('route="/api/hooks/claude-code"')) continue;
      const le = /le="([^"]+)"/.exec(line)?.[1];
      if (le) m.set(le, (m.get(le) ?? 0) + value);
    }
  }
  return { buckets: m, reads, writes, batches, heapMb: { main: Math.round(mainHeap / 2 ** 20), writer: Math.round(writerHeap / 2 ** 20) } };
}

/** µs a hook by where they went, for the log. */
export const split = (s: { main: number; threads: number; postgres: number } | null) => (s === null ? 'none' : `main threads ${s.main}, other threads ${s.threads}${s.postgres > 0 ? `, PostgreSQL ${s.postgres}` : ''}`);

/** The bucket bound (ms) at or under which fraction `q` of the hooks between two readings were answered. */
export function bucketQuantile(a: Map<string, number>, b: Map<string, number>, q: number): number | null {
  const rows = [...b].map(([le, n]) => [le === '+Inf' ? Infinity : Number(le), n - (a.get(le) ?? 0)] as const).sort((x, y) => x[0] - y[0]);
  const total = rows.at(-1)?.[1] ?? 0;
  if (total === 0) return null;
  const hit = rows.find(([, n]) => n >= q * total);
  return hit ? hit[0] * 1000 : null;
}
