/**
 * The fake model of the swarm bench: a disciplined agent played through the real
 * client's tools, never by calling Koor itself. Each session has its own scripted agent; it reads
 * what the client sends (the results of the tools it called, the hook text injected) and answers
 * the next tool call, deterministically. Every step it takes that matters to the figures (a claim,
 * a push, a denial, a rebase conflict, a completion) is recorded with the time the shell stamped
 * it (`date +%s%3N` in the same command: the same clock as this process's Date.now()).
 *
 * Shell commands print `@@<step>=<exit code> <epoch ms>` after each step they run, so one Bash
 * call can chain a few steps (the way an agent chains `koor-cli task done 7 && koor-cli task claim
 * web`) and the script still knows how each went.
 *
 * Two agents, each in a file of its own: KoorAgent (koor-agent.ts: Koor's hooks installed, tasks
 * claimed with koor-cli) and BaselineAgent (baseline-agent.ts: no Koor, tasks.json in the
 * repository). What they share is here: the request loop, tool calls with their continuations,
 * the shell steps and their stamps, the record.
 */
import type { Block, Reply } from '../clients/claude-code.js';
import { marker, ownFileContent, sharedEdit, type SharedFile, type SwarmTask } from './backlog.js';

export type RecordKind =
  | 'start'
  | 'claim'
  | 'claim-failed'
  | 'resume'
  | 'edited'
  | 'denied'
  | 'pull-first'
  | 'checkpoint'
  | 'pushed'
  | 'conflict'
  | 'redo'
  | 'release'
  | 'done'
  | 'done-failed'
  | 'idle'
  | 'wake'
  | 'wait'
  | 'killed'
  | 'poll'
  | 'gave-up'
  | 'budget'
  | 'test-run';

export interface StepRecord {
  /** Epoch ms (the shell's stamp when there is one, else when the request reached the fake API). */
  at: number;
  session: string;
  kind: RecordKind;
  /** The task's key (`T07`). */
  task?: string;
  detail?: string;
  /** Files concerned (edited, pushed, redone, verified present). */
  files?: string[];
}

export interface AgentConfig {
  /** The agent's name (KOOR_AGENT_NAME; the owner in tasks.json). */
  name: string;
  /** Absolute path of the session's clone. */
  root: string;
  /** The project (Koor) or team (tasks.json) whose tasks it takes. */
  project: string;
  /** The idle session: with nothing to claim it ends its turn and waits to be woken (stream-json). */
  idle: boolean;
  /** Killed by the harness at this point of its first task (null: never). */
  killAt: 'after-edits' | null;
  /** SIGKILL the session's client (the harness's). */
  kill: () => void;
  /** Requests after which the agent stops working (a bound, never reached in a sane run). */
  maxRequests: number;
  /** The harness's clock bound: past it the agent ends its turn. */
  deadline: number;
  /** Koor features the server has: claim with paths (and the claim's lease), checkpoints. */
  features: { checkpoints: boolean };
  /** Baseline: stop polling once tasks.json has not changed for this long. */
  giveUpMs: number;
  /** Koor: how long `koor-cli wait --for tasks` may block in one Bash call. */
  waitS: number;
  /** Seconds its test suite runs, in one Bash call, before it pushes its first task (0: none): longer than the liveness timeout. */
  testRunS: number;
}

/** One tool's result as the client sent it back. */
interface ToolOut {
  text: string;
  isError: boolean;
}

/**
 * What the agent reads of one model request, whatever the client's protocol
 * (bench/swarm/wires.ts reads it from each): when it arrived, the results of the tool calls it
 * carries by call id, and all its text (for the Stop hook's wake-up).
 */
export interface AgentView {
  at: number;
  results: Array<{ id: string; text: string; isError: boolean }>;
  text: string;
}

/** A Bash result split by its `@@step=code ms` lines. */
export interface Steps {
  text: string;
  isError: boolean;
  get(step: string): { code: number; at: number; out: string } | undefined;
}

function parseSteps(r: ToolOut): Steps {
  const map = new Map<string, { code: number; at: number; out: string }>();
  let buf: string[] = [];
  for (const line of r.text.split('\n')) {
    const m = /^@@([\w-]+)=(\d+) (\d+)$/.exec(line.trim());
    if (m) {
      map.set(m[1]!, { code: Number(m[2]), at: Number(m[3]), out: buf.join('\n') });
      buf = [];
    } else buf.push(line);
  }
  return { text: r.text, isError: r.isError, get: (s) => map.get(s) };
}

/** The first JSON object or array line of a command's output, or null. */
export function jsonIn(out: string): any {
  for (const line of out.split('\n')) {
    const s = line.trim();
    if (!s.startsWith('{') && !s.startsWith('[')) continue;
    try {
      return JSON.parse(s);
    } catch {
      // not this line
    }
  }
  return null;
}

/** A shell word. */
export const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
/**
 * A step's stamp: the exit code of what ran just before (or `code`), and the time. No command
 * substitution anywhere in a command: Gemini CLI refuses to run a command with `$(…)` or backticks.
 */
export const stampOf = (step: string, code: string): string => `echo -n "@@${step}=${code} "; date +%s%3N`;
export const stamp = (step: string): string => stampOf(step, '$?');

export const PUSH = (files: readonly string[], message: string): string =>
  [
    `git add -- ${files.map(q).join(' ')} && git commit -qm ${q(message)} 2>&1`,
    stamp('commit'),
    'git push -q 2>&1; p=$?',
    stampOf('push', '$p'),
    `if [ $p != 0 ]; then git pull --rebase -q 2>&1; r=$?; ${stampOf('rebase', '$r')}; if [ $r = 0 ]; then git push -q 2>&1; ${stamp('push2')}; fi; fi`,
  ].join('; ');

export const RESET = `git rebase --abort >/dev/null 2>&1; git reset -q --hard '@{u}' 2>&1; ${stamp('reset')}`;

/** How often an agent pushes one piece of work before it gives up. */
export const MAX_PUSH_ATTEMPTS = 8;
/** The Bash tool's own limit for one command (its default is 2 minutes): above the longest wait below. */
const BASH_TIMEOUT_MS = 240_000;

type Handler = (results: ToolOut[], view: AgentView) => Reply | Promise<Reply>;

interface Pending {
  ids: string[];
  blocks: Block[];
  handler: Handler;
}

/** What both agents share: the request loop, tool calls with their continuations, the record. */
export abstract class ScriptedAgent {
  requests = 0;
  /** Requests carrying Koor's wake-up (asyncRewake) notification, seen so far. */
  private wakesSeen = 0;
  private pending: Pending | null = null;
  private seq = 0;
  private ended = false;
  protected killed = false;

  constructor(
    readonly cfg: AgentConfig,
    protected readonly record: (r: StepRecord) => void,
  ) {}

  protected rec(kind: RecordKind, fields: Omit<StepRecord, 'session' | 'kind' | 'at'> & { at?: number } = {}): void {
    this.record({ at: fields.at ?? Date.now(), session: this.cfg.name, kind, ...fields });
  }

  /** The fake API's script for this session. */
  async reply(req: AgentView): Promise<Reply> {
    this.requests++;
    if (this.killed) return 'killed';
    const wakes = (req.text.match(/Stop hook blocking error from command "Stop"/g) ?? []).length;
    if (wakes > this.wakesSeen) {
      this.wakesSeen = wakes;
      this.rec('wake', { at: req.at });
    }
    if (this.requests > this.cfg.maxRequests || Date.now() > this.cfg.deadline) {
      if (!this.ended) this.rec('budget', { detail: this.requests > this.cfg.maxRequests ? `request budget ${this.cfg.maxRequests} spent` : 'past the deadline' });
      this.ended = true;
      this.pending = null;
      return 'Stopping here: out of budget.';
    }
    const p = this.pending;
    if (p !== null) {
      const mine = p.ids.map((id) => req.results.find((r) => r.id === id));
      if (mine.every((r) => r !== undefined)) {
        this.pending = null;
        return p.handler(
          mine.map((r) => ({ text: r!.text, isError: r!.isError })),
          req,
        );
      }
      // Not the answer to the last call (the client sent the request again): the same call again.
      if (mine.every((r) => r === undefined)) return { blocks: p.blocks };
    }
    // A new turn: the first prompt, Koor's Stop feedback, or a wake-up.
    this.pending = null;
    return this.turn(req);
  }

  protected abstract turn(req: AgentView): Reply | Promise<Reply>;

  protected call(blocks: Array<{ name: string; input: unknown }>, handler: Handler): Reply {
    const full: Block[] = blocks.map((b) => ({ type: 'tool_use', name: b.name, input: b.input, id: `toolu_${this.cfg.name.replace(/\W/g, '')}_${String(++this.seq).padStart(4, '0')}` }));
    this.pending = { ids: full.map((b) => (b as { id: string }).id), blocks: full, handler };
    return { blocks: full };
  }

  protected bash(command: string, then: (s: Steps) => Reply | Promise<Reply>): Reply {
    return this.call([{ name: 'Bash', input: { command, description: 'swarm step', timeout: BASH_TIMEOUT_MS } }], (r) => then(parseSteps(r[0]!)));
  }

  private testRan = false;

  /**
   * Before its first push, the tester runs the project's test suite: one Bash call longer than
   * the liveness timeout, with no hook meanwhile (the agent must keep its claim through it).
   */
  protected testFirst(task: string, then: () => Reply): Reply {
    if (this.cfg.testRunS <= 0 || this.testRan) return then();
    this.testRan = true;
    this.rec('test-run', { task, detail: 'start' });
    return this.bash(`sleep ${this.cfg.testRunS}; ${stamp('tests')}`, (s) => {
      this.rec('test-run', { at: s.get('tests')?.at, task, detail: 'end' });
      return then();
    });
  }

  protected end(text: string, kind: RecordKind = 'idle'): Reply {
    this.rec(kind, { detail: text });
    return text;
  }

  protected kill(task: string, edited: readonly string[]): Reply {
    this.killed = true;
    this.rec('killed', { task, files: [...edited], detail: 'SIGKILL after editing, before committing' });
    this.cfg.kill();
    return 'killed';
  }

  protected abs(file: string): string {
    return `${this.cfg.root}/${file}`;
  }

  /** The Write/Edit calls that put `task`'s marker into `files`. */
  protected editBlocks(task: { key: string; title: string; shared: SharedFile | null }, files: readonly string[]): Array<{ name: string; input: unknown }> {
    return files.map((f) => {
      if (f === task.shared) {
        const e = sharedEdit(task.shared, task.key);
        return { name: 'Edit', input: { file_path: this.abs(f), old_string: e.anchor, new_string: e.anchor + e.line } };
      }
      return { name: 'Write', input: { file_path: this.abs(f), content: ownFileContent(task as SwarmTask, f) } };
    });
  }

  /** Which of `files` hold `key`'s marker in the working tree (after a pull: the origin's). */
  protected verifyCommand(key: string, files: readonly string[]): string {
    const re = `${marker(key)}([^0-9]|$)`;
    return `for f in ${files.map(q).join(' ')}; do grep -qsE ${q(re)} "$f" && echo "have $f"; done; ${stamp('verify')}`;
  }

  protected present(s: Steps, files: readonly string[]): string[] {
    const out = s.get('verify')?.out ?? '';
    return files.filter((f) => out.split('\n').includes(`have ${f}`));
  }
}
