/** What every scenario of the peers client measures with: the value written, a window over the server's CPU and this process's, percentiles, the figures of a fan-out. */
import fs from 'node:fs';

/** The keys a write cycles over, and the 1 KB value every write puts. */
export const KEYS = 1000;
export const VALUE = Buffer.from(JSON.stringify({ pad: 'x'.repeat(1024 - 10) }));

/** CPU seconds (user + system, all threads) of the server `pid` so far; 0 without one. */
export function serverCpu(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // CLK_TCK 100 on Linux
  } catch {
    return 0;
  }
}

export const pct = (sorted: number[], p: number): number | null => (sorted.length === 0 ? null : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!);
export const round = (x: number, d = 3) => Math.round(x * 10 ** d) / 10 ** d;
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Window bookkeeping: server CPU, own CPU, wall time. */
export function window(pid?: number) {
  const c0 = serverCpu(pid);
  const u0 = process.cpuUsage();
  const t0 = performance.now();
  return () => {
    const wall = (performance.now() - t0) / 1000;
    const u = process.cpuUsage(u0);
    return { wall_s: round(wall), server_cpu_s: round(serverCpu(pid) - c0), gen_cores: round((u.user + u.system) / 1e6 / wall, 2) };
  };
}

/**
 * What both fan-out rows (watch, pub/sub) report of their deliveries: the rate over the window
 * (to the last delivery), the lag percentiles (`lat` gets sorted) and the server CPU per delivery.
 */
export function deliveryFigures(seen: ReadonlyArray<readonly unknown[]>, lat: number[], lastAt: number, win: ReturnType<ReturnType<typeof window>>) {
  lat.sort((a, b) => a - b);
  const delivered = seen.reduce((a, s) => a + s.length, 0);
  const span = (lastAt - (performance.now() - win.wall_s * 1000)) / 1000;
  return {
    delivered,
    deliveries_per_s: Math.round(delivered / Math.max(span, 1e-3)),
    lag_p50_ms: round(pct(lat, 50) ?? NaN),
    lag_p99_ms: round(pct(lat, 99) ?? NaN),
    server_us_per_delivery: round((win.server_cpu_s / Math.max(1, delivered)) * 1e6, 2),
  };
}
