/** Small shared pieces: hooks for loading data, formatting, the confirmation dialog. */
import { html } from 'htm/preact';
import type { ComponentChildren } from 'preact';
import { createContext } from 'preact';
import { useCallback, useContext, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from './api.js';
import type { LiveStream } from './live.js';
import { matcherFor } from '../../src/shared/glob.js';
import type { EventReply as KoorEvent } from '../../schemas/http/events.js';

export { html };

export const LiveContext = createContext<LiveStream | null>(null);

export function useLive(): LiveStream {
  const live = useContext(LiveContext);
  if (!live) throw new Error('no live stream');
  return live;
}

export interface Loaded<T> {
  data: T | null;
  error: string | null;
  loading: boolean;
  reload: () => void;
}

/** Runs `load` now and whenever `deps` change; the newest call wins. */
export function useLoad<T>(load: () => Promise<T>, deps: readonly unknown[]): Loaded<T> {
  const [state, setState] = useState<{ data: T | null; error: string | null; loading: boolean }>({ data: null, error: null, loading: true });
  const seq = useRef(0);
  const run = useCallback(() => {
    const n = ++seq.current;
    setState((s) => ({ ...s, loading: true }));
    load().then(
      (data) => n === seq.current && setState({ data, error: null, loading: false }),
      (e: unknown) => n === seq.current && setState((s) => ({ data: s.data, error: message(e), loading: false })),
    );
  }, deps);
  useEffect(run, [run]);
  return { ...state, reload: run };
}

/**
 * Calls `fn` (debounced) when an event whose topic matches `pattern` arrives: a page refreshes
 * itself when the server says something it shows has changed.
 */
export function useOnEvents(pattern: string, fn: (events: readonly KoorEvent[]) => void, delayMs = 300): void {
  const live = useLive();
  const ref = useRef(fn);
  ref.current = fn;
  useEffect(() => {
    const match = matcherFor(pattern);
    let timer: ReturnType<typeof setTimeout> | null = null;
    let batch: KoorEvent[] = [];
    const off = live.subscribe((fresh) => {
      const hit = fresh.filter((e) => match(e.topic));
      if (hit.length === 0) return;
      batch = batch.concat(hit);
      if (timer) return;
      timer = setTimeout(() => {
        timer = null;
        const b = batch;
        batch = [];
        ref.current(b);
      }, delayMs);
    });
    return () => {
      off();
      if (timer) clearTimeout(timer);
    };
  }, [live, pattern, delayMs]);
}

/** Calls `fn` every `ms` while the page is visible (and once when it becomes visible again). */
export function useVisibleInterval(fn: () => void, ms: number): void {
  const ref = useRef(fn);
  ref.current = fn;
  useEffect(() => {
    let timer: ReturnType<typeof setInterval> | null = null;
    const arm = () => {
      if (timer) clearInterval(timer);
      timer = document.visibilityState === 'visible' ? setInterval(() => ref.current(), ms) : null;
    };
    const onVisibility = () => {
      if (document.visibilityState === 'visible') ref.current();
      arm();
    };
    arm();
    document.addEventListener('visibilitychange', onVisibility);
    return () => {
      if (timer) clearInterval(timer);
      document.removeEventListener('visibilitychange', onVisibility);
    };
  }, [ms]);
}

export function message(e: unknown): string {
  if (e instanceof ApiError) return e.status === 0 ? e.message : `${e.message} (${e.status})`;
  return e instanceof Error ? e.message : String(e);
}

export function ErrorNote({ error }: { error: string | null }) {
  return error ? html`<p class="error" role="alert">${error}</p>` : null;
}

export function Status({ loading, error }: { loading: boolean; error: string | null }) {
  if (error) return html`<${ErrorNote} error=${error} />`;
  return loading ? html`<p class="muted" aria-live="polite">Loading…</p>` : null;
}

/** A horizontally scrollable, focusable table region (keyboard users can scroll it). */
export function TableWrap({ label, children }: { label: string; children: ComponentChildren }) {
  return html`<div class="table-wrap" role="region" aria-label=${label} tabindex="0">${children}</div>`;
}

// --- Formatting -----------------------------------------------------------------------------

const NEVER = '0001-01-01T00:00:00Z';

/** A time as `YYYY-MM-DD HH:MM:SS` UTC (storage-text times pass through). */
export function fmtTime(t: string | undefined | null): string {
  if (!t || t === NEVER) return '—';
  return t.replace('T', ' ').replace(/(\.\d+)?Z$/, '');
}

/** Milliseconds since an RFC 3339 or storage-text time. */
export function ageMs(t: string, now = Date.now()): number {
  const ms = Date.parse(t.includes('T') ? t : `${t.replace(' ', 'T')}Z`);
  return Number.isNaN(ms) ? Number.NaN : now - ms;
}

export function fmtAge(ms: number): string {
  if (!Number.isFinite(ms)) return '—';
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

export const fmtInt = (n: number | undefined | null): string => (n === undefined || n === null || !Number.isFinite(n) ? '—' : Math.round(n).toLocaleString('en-US'));

export function fmtBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

export const fmtUsd = (n: number): string => `$${n.toFixed(n !== 0 && Math.abs(n) < 0.01 ? 4 : 2)}`;

/** JSON shown compactly in a table cell. */
export function brief(v: unknown, max = 120): string {
  const s = v === undefined ? '' : typeof v === 'string' ? v : JSON.stringify(v);
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

/** Saves `body` as a file through a blob: URL (nothing is fetched again). */
export function download(name: string, body: Blob): void {
  const url = URL.createObjectURL(body);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

// --- Confirmation dialog --------------------------------------------------------------------

interface Ask {
  text: string;
  action: string;
  resolve: (ok: boolean) => void;
}

/**
 * A modal `<dialog>` asking before a destructive action (focus moves into it, Escape cancels).
 * Returns the element to render and `confirm(text, action)` resolving to the answer.
 */
export function useConfirm(): [ReturnType<typeof html> | null, (text: string, action: string) => Promise<boolean>] {
  const [ask, setAsk] = useState<Ask | null>(null);
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = ref.current;
    if (ask && d && !d.open) d.showModal();
  }, [ask]);
  const confirm = useCallback((text: string, action: string) => new Promise<boolean>((resolve) => setAsk({ text, action, resolve })), []);
  const answer = (ok: boolean) => {
    ref.current?.close();
    ask?.resolve(ok);
    setAsk(null);
  };
  const el = ask
    ? html`<dialog ref=${ref} class="confirm" aria-labelledby="confirm-text" onCancel=${(e: Event) => (e.preventDefault(), answer(false))}>
        <p id="confirm-text">${ask.text}</p>
        <div class="actions">
          <button type="button" onClick=${() => answer(false)}>Cancel</button>
          <button type="button" class="danger" onClick=${() => answer(true)}>${ask.action}</button>
        </div>
      </dialog>`
    : null;
  return [el, confirm];
}

/** Runs an action, reporting its failure; returns whether it succeeded. */
export function useAction(): [string | null, boolean, (fn: () => Promise<unknown>) => Promise<boolean>, (e: string | null) => void] {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const run = useCallback(async (fn: () => Promise<unknown>) => {
    setBusy(true);
    setError(null);
    try {
      await fn();
      return true;
    } catch (e) {
      setError(message(e));
      return false;
    } finally {
      setBusy(false);
    }
  }, []);
  return [error, busy, run, setError];
}
