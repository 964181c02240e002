/** The swarm bench's timeline as an SVG: every arm's sessions over time, from what each arm gathered. */
import type { StepRecord } from './agent.js';
import type { ArmResult } from './arm-types.js';

const COLORS = ['#4e79a7', '#59a14f', '#9c755f', '#76b7b2', '#edc948', '#b07aa1', '#ff9da7', '#bab0ac', '#86bcb6', '#8cd17d'];
const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/**
 * One panel per arm, one row per session: a bar per task attempt (claim → done, release or kill),
 * marks for denials (red), rebase conflicts (orange), wake-ups (blue), the kill (black), and a
 * dashed line where a task was created later.
 */
export function timelineSvg(arms: readonly ArmResult[]): string {
  const W = 1100;
  const LEFT = 150;
  const ROW = 18;
  const maxS = Math.max(10, ...arms.map((a) => (a.endedAt - a.t0) / 1000));
  const x = (s: number) => LEFT + (s / maxS) * (W - LEFT - 20);
  const parts: string[] = [];
  let y = 20;
  parts.push(`<text x="10" y="${y}" font-size="14" font-weight="bold">swarm bench: sessions over time (s); bars = a task from claim to done (grey: released or killed)</text>`);
  y += 14;
  parts.push(`<text x="10" y="${y}" font-size="11"><tspan fill="#e15759">| denied edit</tspan>  <tspan fill="#f28e2b">▲ rebase conflict</tspan>  <tspan fill="#1f77b4">● woken</tspan>  ✕ killed  ┆ task created later</text>`);
  y += 16;
  for (const a of arms) {
    const sessions = a.sessions.map((s) => s.name);
    const h = sessions.length * ROW + 30;
    parts.push(`<text x="10" y="${y + 12}" font-size="12" font-weight="bold">${esc(a.spec.label)}</text>`);
    const top = y + 18;
    for (let s = 0; s <= maxS; s += maxS > 120 ? 30 : 10) {
      parts.push(`<line x1="${x(s)}" y1="${top}" x2="${x(s)}" y2="${top + sessions.length * ROW}" stroke="#eee"/><text x="${x(s)}" y="${top + sessions.length * ROW + 11}" font-size="9" text-anchor="middle">${s}</text>`);
    }
    const t = (ms: number) => (ms - a.t0) / 1000;
    sessions.forEach((name, i) => {
      const ry = top + i * ROW;
      const role = a.sessions[i]!.role;
      parts.push(`<text x="10" y="${ry + 12}" font-size="10">${esc(name)}${role !== 'worker' ? ` (${role})` : ''}</text>`);
      const mine = a.records.filter((r) => r.session === name);
      let open: StepRecord | null = null;
      for (const r of mine) {
        if (r.kind === 'claim') open = r;
        else if (open && (r.kind === 'done' || r.kind === 'release' || r.kind === 'killed') && r.task === open.task) {
          const x0 = x(t(open.at));
          const x1 = Math.max(x0 + 2, x(t(r.at)));
          const n = Number((open.task ?? 'T0').slice(1));
          const fill = r.kind === 'done' ? COLORS[n % COLORS.length] : '#ccc';
          parts.push(`<rect x="${x0.toFixed(1)}" y="${ry + 2}" width="${(x1 - x0).toFixed(1)}" height="${ROW - 5}" fill="${fill}" stroke="#fff"><title>${esc(`${open.task} ${r.kind} ${t(open.at).toFixed(1)}-${t(r.at).toFixed(1)} s`)}</title></rect>`);
          if (x1 - x0 > 24) parts.push(`<text x="${(x0 + 2).toFixed(1)}" y="${ry + 12}" font-size="9" fill="#fff">${esc(open.task ?? '')}</text>`);
          open = null;
        }
        const rx = x(t(r.at)).toFixed(1);
        if (r.kind === 'denied') parts.push(`<line x1="${rx}" y1="${ry}" x2="${rx}" y2="${ry + ROW - 2}" stroke="#e15759" stroke-width="2"><title>${esc(`denied ${r.task} ${(r.files ?? []).join(',')}`)}</title></line>`);
        if (r.kind === 'conflict') parts.push(`<text x="${rx}" y="${ry + 13}" font-size="11" fill="#f28e2b" text-anchor="middle">▲<title>${esc(`conflict ${r.task}`)}</title></text>`);
        if (r.kind === 'wake') parts.push(`<circle cx="${rx}" cy="${ry + ROW / 2}" r="4" fill="#1f77b4"><title>woken</title></circle>`);
        if (r.kind === 'killed') parts.push(`<text x="${rx}" y="${ry + 13}" font-size="13" text-anchor="middle">✕<title>${esc(`killed during ${r.task}`)}</title></text>`);
      }
    });
    for (const l of a.late) parts.push(`<line x1="${x(t(l.at))}" y1="${top}" x2="${x(t(l.at))}" y2="${top + sessions.length * ROW}" stroke="#1f77b4" stroke-dasharray="3,3"><title>${esc(`${l.key} created`)}</title></line>`);
    y += h + 10;
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${y}" font-family="sans-serif" viewBox="0 0 ${W} ${y}"><rect width="100%" height="100%" fill="#fff"/>${parts.join('')}</svg>\n`;
}
