import WebSocket from 'ws';
import type { IncomingMessage } from 'node:http';
import type { Task } from '../schemas/http/coord.js';
import type { InboxItem } from '../schemas/http/messages.js';
import { authHeaders, describeError, isCertificateError, messageHeader, preview, query, replyOf, request, serverCa, shellWord, tlsHint, writeErr, writeOut, type CliConfig } from './core.js';

/**
 * `koor-cli wait` (issue 28): blocks until something arrives for this agent, says what in a few
 * lines, and exits; the building block the IDE hooks use to wake an idle agent.
 *
 * - Messages: the inbox push stream with `since=0&unread=1`, which first sends every unread item,
 *   then live ones. Nothing is marked read. The first item ends the wait; items that came in the
 *   same moment (the unread backlog) are counted, not printed.
 * - Tasks: the event stream of `task.*` is opened first; once it is open, and on every task event,
 *   `GET /api/tasks?status=ready` is asked again (a task also becomes ready without an event of its
 *   own, when its last dependency is done), so nothing that happens between the two is missed.
 *   Only tasks this agent may claim count: every capability a task asks for is the agent's.
 * - A dropped socket reconnects with backoff, and asks again from the start (the unread stream
 *   replays what is unread, the task list is read again): nothing is lost while it was down.
 *   A server that refuses WebSockets is polled every 2 s instead; a refused identity or token is
 *   fatal (the server's error JSON on stdout, exit 1).
 */

const RECONNECT_MIN_MS = 250;
const RECONNECT_MAX_MS = 5_000;
const POLL_INTERVAL_MS = 2_000;
const HANDSHAKE_TIMEOUT_MS = 10_000;
const HEARTBEAT_MS = 30_000;
/** After the first inbox item, how long to keep counting items that arrive with it (the backlog). */
const GATHER_MS = 25;
/** The server's largest page of tasks. */
const TASK_PAGE = 10_000;

export interface TaskWatch {
  project: string;
  /** The agent's capabilities; null when unknown (every ready task counts). */
  capabilities: string[] | null;
}

export interface WaitOptions {
  config: CliConfig;
  messages: boolean;
  tasks: TaskWatch | null;
  timeoutMs: number;
  /** As the user wrote it, for the timeout line. */
  timeoutText: string;
  /** Claude Code's asyncRewake: what arrived goes to stderr with exit 2; the timeout exits 0, silently. */
  hook: boolean;
  /** Only messages after this id count (a hook session's digest cursor: what the model was already told); 0 = every unread one. */
  since?: number;
  /** Appended to the commands suggested (`--instance X` when the agent was given that way). */
  agentArgs: string;
  /** Told what woke the agent (`--hook` only), before the exit that wakes it; its failure changes nothing. */
  onWake?: (what: Woke) => Promise<unknown>;
}

/** What ended a wait: a message (the oldest unread) or a task it may claim (the one it would get). */
export type Woke = { reason: 'message'; message_id: number; from_name: string } | { reason: 'task'; task_id: number; project: string };

export function wait(opts: WaitOptions): Promise<number> {
  serverCa(opts.config); // an unreadable CA file is reported now, once
  return new Promise((resolve) => new Waiter(opts, resolve).start());
}

interface SourceHandlers {
  /** The socket is open (again). */
  open(): void;
  frame(text: string): void;
  /** One round of the polling fallback. */
  poll(): Promise<void>;
}

class Waiter {
  private finished = false;
  private timer: NodeJS.Timeout | null = null;
  private readonly sources: Source[] = [];
  private readonly wsBase: string;
  private readonly headers: Record<string, string>;
  private inbox: InboxItem[] = [];
  private gathering: NodeJS.Timeout | null = null;
  private checking = false;
  private checkAgain = false;
  private retryCheck: NodeJS.Timeout | null = null;
  private woke: Woke | null = null;

  constructor(
    private readonly opts: WaitOptions,
    private readonly done: (code: number) => void,
  ) {
    this.wsBase = opts.config.server.replace(/^http(s?):/i, 'ws$1:');
    this.headers = { ...authHeaders(opts.config), ...(opts.config.instance === '' ? {} : { 'x-koor-instance': opts.config.instance }) };
  }

  start(): void {
    this.timer = setTimeout(() => this.finish(null), this.opts.timeoutMs);
    if (this.opts.messages) {
      this.sources.push(
        new Source(this, 'inbox', `${this.wsBase}/api/inbox/subscribe?since=${this.opts.since ?? 0}&unread=1`, this.headers, {
          open: () => {},
          frame: (text) => this.onItem(text),
          poll: () => this.pollInbox(),
        }),
      );
    }
    if (this.opts.tasks) {
      this.sources.push(
        new Source(this, 'task events', `${this.wsBase}/api/events/subscribe${query({ pattern: 'task.*' })}`, this.headers, {
          open: () => void this.checkTasks(),
          frame: () => void this.checkTasks(),
          poll: () => this.checkTasks(),
        }),
      );
    }
    for (const s of this.sources) s.connect();
  }

  get stopped(): boolean {
    return this.finished;
  }

  get config(): CliConfig {
    return this.opts.config;
  }

  /** Something arrived (`text`), or the time is up (null). */
  finish(text: string | null): void {
    if (this.finished) return;
    this.finished = true;
    this.halt();
    if (text !== null) {
      if (!this.opts.hook) {
        writeOut(text);
        return this.done(0);
      }
      writeErr(text);
      const record = this.woke !== null && this.opts.onWake ? this.opts.onWake(this.woke).catch(() => {}) : Promise.resolve();
      void record.then(() => this.done(2));
      return;
    }
    if (this.opts.hook) return this.done(0);
    const what = [this.opts.messages ? 'messages' : '', this.opts.tasks ? `tasks in ${this.opts.tasks.project}` : ''].filter((w) => w !== '').join(', ');
    writeOut(`nothing arrived in ${this.opts.timeoutText} (${what})\n`);
    this.done(1);
  }

  /** A refusal waiting cannot get past: the server's reply (if any) on stdout, one error line, exit 1. */
  fatal(line: string, body?: Buffer): void {
    if (this.finished) return;
    this.finished = true;
    this.halt();
    if (body !== undefined && body.length > 0) writeOut(body.toString('utf8').endsWith('\n') ? body : Buffer.concat([body, Buffer.from('\n')]));
    writeErr(`error: ${line}`);
    this.done(1);
  }

  private halt(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.gathering) clearTimeout(this.gathering);
    if (this.retryCheck) clearTimeout(this.retryCheck);
    for (const s of this.sources) s.stop();
  }

  // ---- messages ----

  private onItem(text: string): void {
    let item: InboxItem;
    try {
      item = JSON.parse(text) as InboxItem;
    } catch {
      return;
    }
    if (item.read_at !== '') return;
    this.inbox.push(item);
    this.gathering ??= setTimeout(() => this.reportInbox(this.inbox), GATHER_MS);
  }

  private async pollInbox(): Promise<void> {
    const r = await request(this.opts.config, 'GET', `/api/inbox?unread=1&limit=100&since=${this.opts.since ?? 0}`);
    if (r.status === 400 || r.status === 401 || r.status === 403) return this.fatal(`reading the inbox refused (HTTP ${r.status})`, r.body);
    if (r.status !== 200) throw new Error(`HTTP ${r.status}`);
    const items = replyOf('GET /api/inbox', r);
    if (items.length > 0) this.reportInbox(items);
  }

  private reportInbox(items: InboxItem[]): void {
    const first = [...items].sort((a, b) => a.id - b.id)[0]!;
    this.woke = { reason: 'message', message_id: first.id, from_name: first.from_name };
    let text = `message ${messageHeader(first)}\n`;
    const body = preview(first.body);
    if (body !== '') text += `  ${body}\n`;
    text += items.length > 1 ? `${items.length} unread: koor-cli inbox${this.opts.agentArgs}\n` : `read it: koor-cli inbox${this.opts.agentArgs}\n`;
    this.finish(text);
  }

  // ---- tasks ----

  /** Reads the ready tasks again (one reading at a time; an event during one asks for another). */
  private async checkTasks(): Promise<void> {
    const watch = this.opts.tasks!;
    if (this.checking) {
      this.checkAgain = true;
      return;
    }
    this.checking = true;
    try {
      do {
        this.checkAgain = false;
        const ready: Task[] = [];
        let after = 0;
        for (;;) {
          const r = await request(this.opts.config, 'GET', `/api/tasks${query({ project: watch.project, status: 'ready', limit: TASK_PAGE, after })}`);
          if (this.finished) return;
          if (r.status === 400 || r.status === 401 || r.status === 403) return this.fatal(`listing the tasks of ${watch.project} refused (HTTP ${r.status})`, r.body);
          if (r.status !== 200) throw new Error(`HTTP ${r.status}`);
          const page = replyOf('GET /api/tasks', r);
          ready.push(...page.filter((t) => t.status === 'ready' && mayClaim(t, watch.capabilities)));
          if (page.length < TASK_PAGE) break;
          after = page[page.length - 1]!.id;
        }
        if (ready.length > 0) return this.reportTasks(ready);
      } while (this.checkAgain && !this.finished);
    } catch (e) {
      // The server did not answer: look again shortly (a reconnect would too).
      this.sources.find((s) => s.name === 'task events')?.note(`reading the tasks failed: ${describeError(e)}`);
      if (!this.finished) this.retryCheck ??= setTimeout(() => {
        this.retryCheck = null;
        void this.checkTasks();
      }, POLL_INTERVAL_MS);
    } finally {
      this.checking = false;
    }
  }

  private reportTasks(ready: Task[]): void {
    // The order `task claim` takes them in: highest priority, then the oldest.
    const best = [...ready].sort((a, b) => b.priority - a.priority || a.id - b.id)[0]!;
    const project = this.opts.tasks!.project;
    const more = ready.length > 1 ? ` (+${ready.length - 1} more)` : '';
    this.woke = { reason: 'task', task_id: best.id, project: best.project };
    const prio = best.priority !== 0 ? ` [priority ${best.priority}]` : '';
    this.finish(`task #${best.id} ready in ${best.project}${prio}: ${best.title}${more}\nclaim: koor-cli task claim ${shellWord(project)}${this.opts.agentArgs}\n`);
  }
}

/** Every capability the task asks for is the agent's (unknown capabilities: assume so). */
function mayClaim(t: Task, capabilities: string[] | null): boolean {
  return capabilities === null || t.capabilities.every((c) => capabilities.includes(c));
}

/** One WebSocket the waiter listens on, kept open until the wait ends. */
class Source {
  private ws: WebSocket | null = null;
  private timer: NodeJS.Timeout | null = null;
  private heartbeat: NodeJS.Timeout | null = null;
  private failures = 0;
  private stopped = false;
  /** A problem was reported since the last good connection (said once, not per retry). */
  private noted = false;

  constructor(
    private readonly waiter: Waiter,
    readonly name: string,
    private readonly url: string,
    private readonly headers: Record<string, string>,
    private readonly on: SourceHandlers,
  ) {}

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.ws?.terminate();
  }

  /** One stderr line about trouble, once until a connection opens again. */
  note(what: string): void {
    if (this.noted || this.waiter.stopped) return;
    this.noted = true;
    writeErr(`koor: ${this.name}: ${what}; retrying`);
  }

  connect(): void {
    if (this.stopped) return;
    const ca = serverCa(this.waiter.config);
    const ws = new WebSocket(this.url, { headers: this.headers, perMessageDeflate: false, handshakeTimeout: HANDSHAKE_TIMEOUT_MS, ...(ca === undefined ? {} : { ca }) });
    this.ws = ws;
    let opened = false;
    let handled = false;
    let lastError = '';
    let alive = true;
    ws.on('open', () => {
      opened = true;
      this.failures = 0;
      this.noted = false;
      this.heartbeat = setInterval(() => {
        if (!alive) return ws.terminate();
        alive = false;
        ws.ping();
      }, HEARTBEAT_MS);
      this.on.open();
    });
    ws.on('pong', () => (alive = true));
    ws.on('message', (data: WebSocket.RawData) => {
      alive = true;
      if (!this.stopped) this.on.frame(Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.from(data as ArrayBuffer).toString('utf8'));
    });
    ws.on('unexpected-response', (req, res: IncomingMessage) => {
      handled = true;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        req.destroy();
        ws.terminate();
        this.refused(res.statusCode ?? 0, Buffer.concat(chunks));
      });
      res.on('error', () => {
        ws.terminate();
        this.retry(`upgrade failed (HTTP ${res.statusCode})`);
      });
    });
    ws.on('error', (e) => {
      lastError = describeError(e);
      // An untrusted certificate stays untrusted: waiting longer would not help.
      if (!isCertificateError(e)) return;
      handled = true;
      this.waiter.fatal(`the ${this.name} stream failed: ${lastError}${tlsHint(e, this.waiter.config)}`);
    });
    ws.on('close', (code: number, reason: Buffer) => {
      if (this.heartbeat) clearInterval(this.heartbeat);
      this.heartbeat = null;
      if (this.stopped || handled) return;
      if (!opened) return this.retry(`connection failed: ${lastError || `code ${code}`}`);
      this.retry(`disconnected (code ${code}${reason.length > 0 ? `: ${reason.toString('utf8')}` : ''})`, true);
    });
  }

  private retry(what: string, soon = false): void {
    if (this.stopped) return;
    this.note(what);
    const base = soon ? RECONNECT_MIN_MS : Math.min(RECONNECT_MAX_MS, RECONNECT_MIN_MS * 2 ** this.failures);
    this.failures++;
    this.timer = setTimeout(() => this.connect(), Math.round(base * (0.8 + Math.random() * 0.4)));
  }

  private refused(status: number, body: Buffer): void {
    if (this.stopped) return;
    // Koor's own refusal (no identity, a bad token): waiting longer would not help.
    if (status === 401 || status === 403 || (status === 400 && isKoorError(body))) return this.waiter.fatal(`the ${this.name} stream was refused (HTTP ${status})`, body);
    if (status >= 400 && status < 500 && status !== 408 && status !== 429) return void this.poll();
    this.retry(`upgrade failed (HTTP ${status})`);
  }

  /** The server (or a proxy) refuses WebSockets: ask every 2 s instead. */
  private async poll(): Promise<void> {
    if (this.stopped) return;
    try {
      await this.on.poll();
    } catch (e) {
      this.note(`poll failed: ${describeError(e)}`);
    }
    if (!this.stopped) this.timer = setTimeout(() => void this.poll(), POLL_INTERVAL_MS);
  }
}

/** `{"error": "...", "code": N}`: the server's own error reply (not a proxy's page). */
function isKoorError(body: Buffer): boolean {
  try {
    const v = JSON.parse(body.toString('utf8')) as { error?: unknown; code?: unknown };
    return typeof v.error === 'string' && typeof v.code === 'number';
  } catch {
    return false;
  }
}
