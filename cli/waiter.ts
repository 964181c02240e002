import type { Task } from '../schemas/http/tasks.js';
import type { InboxItem } from '../schemas/http/messages.js';
import { authHeaders, describeError, messageHeader, preview, query, replyOf, request, serverCa, shellWord, tlsHint, writeErr, writeOut, type CliConfig } from './core.js';
import { POLL_INTERVAL_MS, ReconnectingSocket } from './socket.js';

/**
 * `koor-cli wait`: blocks until something arrives for this agent, says what in a few
 * lines, and exits; the building block the IDE hooks use to wake an idle agent.
 *
 * - Messages: the inbox push stream with `since=0&unread=1`, which first sends every unread item,
 *   then live ones. Nothing is marked read. The first item ends the wait; items that came in the
 *   same moment (the unread backlog) are counted, not printed.
 * - Tasks: the event stream of `task.*` is opened first; once it is open, and on every task event,
 *   `GET /api/tasks?status=ready` is asked again (a task also becomes ready without an event of its
 *   own, when its last dependency is done), so nothing that happens between the two is missed.
 *   Only tasks this agent may claim count: every capability a task asks for is the agent's.
 * - A dropped socket reconnects (cli/socket.ts, shared with `events subscribe`) at once, any close
 *   being a reason to look again soon, and asks again from the start (the unread stream replays
 *   what is unread, the task list is read again): nothing is lost while it was down. A server that
 *   refuses WebSockets is polled every 2 s instead; a refused identity or token is fatal (the
 *   server's error JSON on stdout, exit 1).
 */

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
  private readonly socket: ReconnectingSocket;
  /** A problem was reported since the last good connection (said once, not per retry). */
  private noted = false;

  constructor(
    private readonly waiter: Waiter,
    readonly name: string,
    url: string,
    headers: Record<string, string>,
    on: SourceHandlers,
  ) {
    this.socket = new ReconnectingSocket(waiter.config, headers, {
      url: () => url,
      open: () => {
        this.noted = false;
        on.open();
      },
      frame: (text) => on.frame(text),
      retrying: (what) => this.note(what),
      // Koor's own refusal (no identity, a bad token): waiting longer would not help.
      refused: (status, body) => waiter.fatal(`the ${name} stream was refused (HTTP ${status})`, body),
      untrusted: (e, described) => waiter.fatal(`the ${name} stream failed: ${described}${tlsHint(e, waiter.config)}`),
      // Whatever closed it, something may have arrived meanwhile: look again soon.
      quickAfter: () => true,
      poll: { start: () => {}, round: () => on.poll(), failed: (e) => this.note(`poll failed: ${describeError(e)}`) },
    });
  }

  connect(): void {
    void this.socket.connect();
  }

  stop(): void {
    this.socket.stop();
  }

  /** One stderr line about trouble, once until a connection opens again. */
  note(what: string): void {
    if (this.noted || this.waiter.stopped) return;
    this.noted = true;
    writeErr(`koor: ${this.name}: ${what}; retrying`);
  }
}
