import WebSocket from 'ws';

export interface Received {
  ws: WebSocket;
  events: Array<{ id: number; topic: string; data: unknown; source: string; created_at: string }>;
  closed: Promise<{ code: number; reason: string }>;
  /** Resolves once `n` events have arrived (or rejects after timeoutMs). */
  waitFor(n: number, timeoutMs?: number): Promise<void>;
}

/** A real WebSocket subscriber (the `ws` package) collecting Event frames. */
export function subscribe(baseUrl: string, query: string, headers: Record<string, string> = {}): Promise<Received & { headers: Record<string, string | string[] | undefined> }> {
  return openSocket(baseUrl, `/api/events/subscribe${query}`, headers);
}

/** A change as a state or spec watcher reads it. */
export interface Change {
  type: 'put' | 'delete' | 'expire';
  key?: string;
  project?: string;
  name?: string;
  version: number;
  revision: number;
  hash: string;
  content_type?: string;
  updated_by?: string;
}

/** A real WebSocket watcher of `/api/state/watch` or `/api/specs/watch` (`path` with its query). */
export async function watch(baseUrl: string, path: string, headers: Record<string, string> = {}): Promise<Omit<Received, 'events'> & { changes: Change[]; headers: Record<string, string | string[] | undefined> }> {
  const r = await openSocket(baseUrl, path, headers);
  return { ...r, changes: r.events as unknown as Change[] };
}

function openSocket(baseUrl: string, path: string, headers: Record<string, string>): Promise<Received & { headers: Record<string, string | string[] | undefined> }> {
  const ws = new WebSocket(`${baseUrl.replace(/^http/, 'ws')}${path}`, { headers });
  const events: Received['events'] = [];
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  ws.on('message', (m) => {
    events.push(JSON.parse(m.toString()));
    for (const w of waiters) if (events.length >= w.n) w.resolve();
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  let upgradeHeaders: Record<string, string | string[] | undefined> = {};
  ws.on('upgrade', (res) => (upgradeHeaders = res.headers));
  return new Promise((resolve, reject) => {
    ws.once('open', () =>
      resolve({
        ws,
        events,
        closed,
        headers: upgradeHeaders,
        waitFor: (n, timeoutMs = 10_000) =>
          new Promise<void>((res, rej) => {
            if (events.length >= n) return res();
            const timer = setTimeout(() => rej(new Error(`only ${events.length} of ${n} events arrived`)), timeoutMs);
            waiters.push({
              n,
              resolve: () => {
                clearTimeout(timer);
                res();
              },
            });
          }),
      }),
    );
    ws.once('unexpected-response', (_req, res) => reject(Object.assign(new Error(`upgrade refused: ${res.statusCode}`), { status: res.statusCode })));
    ws.once('error', reject);
  });
}

export async function publish(baseUrl: string, topic: string, data?: unknown, headers: Record<string, string> = {}): Promise<{ id: number }> {
  const body = JSON.stringify(data === undefined ? { topic } : { topic, data });
  const r = await fetch(`${baseUrl}/api/events/publish`, { method: 'POST', body: Buffer.from(body) as unknown as BodyInit, headers });
  if (r.status !== 200) throw new Error(`publish ${r.status}: ${await r.text()}`);
  return (await r.json()) as { id: number };
}
