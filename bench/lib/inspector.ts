/** A child's V8 inspector: start it with INSPECT_ENV, find its URL, talk DevTools protocol to it. */
import WebSocket from 'ws';
import type { ServerProc } from './processes.js';

/** The environment of a child the bench talks to through its inspector (loopback, a port of its own). */
export const INSPECT_ENV: NodeJS.ProcessEnv = { NODE_OPTIONS: '--inspect=127.0.0.1:0' };

/** The inspector's WebSocket URL a child started with INSPECT_ENV printed (`Debugger listening on …`); null if none. Read it at start: the output kept is a tail. */
export function inspectorUrl(proc: ServerProc): string | null {
  return /Debugger listening on (ws:\/\/127\.0\.0\.1:\d+\/\S+)/.exec(proc.output())?.[1] ?? null;
}

/** A DevTools protocol session with a process's main thread, through its inspector. */
export class Inspector {
  private nextId = 0;
  private readonly waiting = new Map<number, { resolve: (r: unknown) => void; reject: (e: Error) => void; method: string }>();

  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (m) => {
      const msg = JSON.parse(String(m)) as { id?: number; result?: unknown; error?: { message: string } };
      const w = msg.id === undefined ? undefined : this.waiting.get(msg.id);
      if (!w) return;
      this.waiting.delete(msg.id!);
      if (msg.error) w.reject(new Error(`${w.method}: ${msg.error.message}`));
      else w.resolve(msg.result);
    });
    // A call never answered fails with the socket, rather than waiting for ever.
    const fail = (why: string) => {
      for (const w of this.waiting.values()) w.reject(new Error(`${w.method}: ${why}`));
      this.waiting.clear();
    };
    ws.on('error', (e) => fail(e.message));
    ws.on('close', () => fail('inspector connection closed'));
  }

  static async connect(url: string): Promise<Inspector> {
    const ws = new WebSocket(url);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return new Inspector(ws);
  }

  call<T>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    const id = ++this.nextId;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (r: unknown) => void, reject, method });
      this.ws.send(JSON.stringify({ id, method, params }));
    });
  }

  close(): void {
    this.ws.terminate();
  }
}
