/**
 * Time on the team page: the axis its timeline and its progress chart share (UTC ticks at round
 * steps), the width of the box a chart is drawn in, and how a moment reads in a tooltip or a table.
 */
import type { RefObject } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { fmtTime, html } from '../ui.js';

/** The shortest time axis drawn (a span fitted to a few seconds of work would magnify 1 s steps). */
export const MIN_AXIS_MS = 20_000;
/** The band above a chart that holds the tick labels, px. */
export const AXIS_H = 22;
/** The margin right of a chart's plot, px (a tick label near the end may run into it). */
export const PAD_R = 12;

const STEPS_MS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800].map((s) => s * 1000);

/** Tick times between from and to, about one per `px` pixels of `width`. */
function ticks(from: number, to: number, width: number, px = 90): { at: number[]; step: number } {
  const want = Math.max(2, Math.floor(width / px));
  const step = STEPS_MS.find((s) => (to - from) / s <= want) ?? STEPS_MS[STEPS_MS.length - 1]!;
  const at: number[] = [];
  for (let t = Math.ceil(from / step) * step; t <= to; t += step) at.push(t);
  return { at, step };
}

/** A tick's label (UTC, as every time on the dashboard). */
function tickLabel(t: number, step: number): string {
  const iso = new Date(t).toISOString();
  if (step >= 86_400_000) return iso.slice(5, 10);
  return step >= 60_000 ? iso.slice(11, 16) : iso.slice(11, 19);
}

/** A moment as the dashboard writes it (UTC); null: before the events the page read. */
export const clock = (t: number | null): string => (t === null ? 'before the history' : fmtTime(new Date(t).toISOString()));

/** The width of an element, followed as the window resizes. */
export function useWidth(min: number): [RefObject<HTMLDivElement>, number] {
  const ref = useRef<HTMLDivElement>(null);
  const [width, setWidth] = useState(0);
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    const measure = () => setWidth(Math.max(min, Math.floor(el.clientWidth)));
    measure();
    const observer = new ResizeObserver(measure);
    observer.observe(el);
    return () => observer.disconnect();
  }, [min]);
  return [ref, width];
}

export function Axis({ x, from, to, width, y, height }: { x: (t: number) => number; from: number; to: number; width: number; y: number; height: number }) {
  const { at, step } = ticks(from, to, width);
  // A label that would run past the right edge is left out (its grid line stays).
  const fits = (t: number) => x(t) + 28 <= x(to) + PAD_R;
  return html`<g class="axis" aria-hidden="true">
    ${at.map(
      (t) => html`<g key=${t}>
        <line x1=${x(t)} x2=${x(t)} y1=${y} y2=${y + height} class="grid" />
        ${fits(t) ? html`<text x=${x(t)} y=${y - 6} text-anchor="middle">${tickLabel(t, step)}</text>` : null}
      </g>`,
    )}
  </g>`;
}
