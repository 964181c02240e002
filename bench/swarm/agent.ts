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
 * Two agents:
 * - KoorAgent (Koor's hooks installed): `koor-cli task claim <project>` → `git pull --rebase` →
 *   Write/Edit each file of the task → `koor-cli task checkpoint` → `git commit` + `git push`
 *   (the pull retried on a rejected push; a rebase conflict is counted, aborted, and the task's
 *   edits redone on the origin's head) → `koor-cli task done`, chained with the next claim. A
 *   claim that carries a checkpoint (or a task on its second attempt) is verified first: the
 *   files whose marker already reached the origin are not edited again. An edit the hooks deny is
 *   obeyed: what was edited is pushed, a checkpoint says what is left and which files were
 *   refused, the task is released; whoever claims it next (this agent included) first waits until
 *   those files are free (`koor-cli lease check`, bounded) instead of being refused again. With
 *   nothing to claim it asks the board: a task ready (but not for it now) → a second later again;
 *   tasks still claimed by others → `koor-cli wait --for tasks` (the Bash tool blocks until one is
 *   claimable), then claims again; nothing ready or claimed → the turn ends. The idle session (`idle: true`) ends its turn at once instead and is woken by the
 *   Stop hook (`koor-cli wait --hook`, asyncRewake) in stream-json mode.
 * - BaselineAgent (no Koor): tasks live in tasks.json in the repository. `git pull --rebase` +
 *   read it → take the first open task of its team whose deps are done → mark it claimed (Edit of
 *   its line) → commit + push that claim (a rejected push is pulled and pushed again; a conflict
 *   means another agent took a neighbouring or the same line: counted, reset, and picked again) →
 *   Write/Edit its files and mark the line done → commit + push (a conflict: counted, reset, the
 *   edits redone). With no open task but some still claimed or blocked it polls (sleep + pull)
 *   until the list stops changing for `giveUpMs`.
 */
import type { Block, Reply } from '../clients/claude-code.js';
import { marker, ownFileContent, parseTasksJson, sharedEdit, taskLine, type FileTask, type SharedFile, type SwarmTask } from './backlog.js';

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
interface Steps {
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
function jsonIn(out: string): any {
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
const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
/**
 * A step's stamp: the exit code of what ran just before (or `code`), and the time. No command
 * substitution anywhere in a command: Gemini CLI refuses to run a command with `$(…)` or backticks.
 */
const stampOf = (step: string, code: string): string => `echo -n "@@${step}=${code} "; date +%s%3N`;
const stamp = (step: string): string => stampOf(step, '$?');

const PUSH = (files: readonly string[], message: string): string =>
  [
    `git add -- ${files.map(q).join(' ')} && git commit -qm ${q(message)} 2>&1`,
    stamp('commit'),
    'git push -q 2>&1; p=$?',
    stampOf('push', '$p'),
    `if [ $p != 0 ]; then git pull --rebase -q 2>&1; r=$?; ${stampOf('rebase', '$r')}; if [ $r = 0 ]; then git push -q 2>&1; ${stamp('push2')}; fi; fi`,
  ].join('; ');

const RESET = `git rebase --abort >/dev/null 2>&1; git reset -q --hard '@{u}' 2>&1; ${stamp('reset')}`;

/** Bounds of the loops an agent runs. */
const MAX_PUSH_ATTEMPTS = 8;
const MAX_CLAIM_ERRORS = 5;
const MAX_SURVEYS = 40;
/** The Bash tool's own limit for one command (its default is 2 minutes): above the longest wait below. */
const BASH_TIMEOUT_MS = 240_000;
/** How long an agent that got back a task it gave up waits to lease the refused file, seconds. */
const MAX_FREE_WAIT_S = 150;

type Handler = (results: ToolOut[], view: AgentView) => Reply | Promise<Reply>;

interface Pending {
  ids: string[];
  blocks: Block[];
  handler: Handler;
}

/** What both agents share: the request loop, tool calls with their continuations, the record. */
abstract class ScriptedAgent {
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

// ---------------------------------------------------------------------------------------------
// With Koor

interface KoorTask {
  id: number;
  key: string;
  title: string;
  files: string[];
  shared: SharedFile | null;
  attempts: number;
  checkpoint: { done?: string; next?: string; data?: any; by_name?: string } | null;
  /** Files edited in this attempt (locally, maybe pushed). */
  edited: string[];
  /** Files the agent found already in the origin (resumed work). */
  had: string[];
  pushes: number;
  denied: string[];
  denier: string;
  killedHere: boolean;
  /** The lease this agent took on files refused before (released with the task). */
  lease: string | null;
}

export class KoorAgent extends ScriptedAgent {
  private task: KoorTask | null = null;
  /** The task this agent last gave back after a denial, and the files it was refused. */
  private yielded: { id: number; files: string[] } | null = null;
  private claimErrors = 0;
  private surveys = 0;
  private tasksDone = 0;

  protected turn(): Reply {
    return this.claim('');
  }

  /** `prefix` runs first (a `task done`, a sleep, a wait), then the claim and, if it got a task, the pull. */
  private claim(prefix: string): Reply {
    const cmd = `${prefix}koor-cli task claim ${q(this.cfg.project)}; c=$?; ${stampOf('claim', '$c')}; if [ $c = 0 ]; then git pull --rebase -q 2>&1; ${stamp('pull')}; fi`;
    return this.bash(cmd, (s) => this.claimed(s));
  }

  private doneThenClaim(t: KoorTask): Reply {
    return this.claim(`koor-cli task done ${t.id}; ${stamp('done')}; ${t.lease ? `koor-cli lease release ${t.lease} >/dev/null; ` : ''}`);
  }

  private claimed(s: Steps): Reply {
    const done = s.get('done');
    if (done !== undefined && this.task !== null) {
      if (done.code === 0) {
        this.tasksDone++;
        this.rec('done', { at: done.at, task: this.task.key });
      } else this.rec('done-failed', { at: done.at, task: this.task.key, detail: done.out.trim().slice(0, 200) });
      this.task = null;
    }
    const waited = s.get('wait');
    if (waited !== undefined) this.rec('wait', { at: waited.at, detail: `exit ${waited.code}` });
    const c = s.get('claim');
    if (c === undefined) return this.end(`claim did not run: ${s.text.slice(0, 200)}`, 'claim-failed');
    if (c.code !== 0) {
      if (/no task ready/.test(c.out)) return this.survey();
      this.rec('claim-failed', { at: c.at, detail: c.out.trim().slice(0, 200) });
      if (++this.claimErrors > MAX_CLAIM_ERRORS) return this.end('too many failed claims', 'claim-failed');
      return this.claim('sleep 1; ');
    }
    const j = jsonIn(c.out);
    const data = j?.data ?? {};
    if (typeof j?.id !== 'number' || typeof data.key !== 'string') return this.end(`a claim I cannot read: ${c.out.slice(0, 200)}`, 'claim-failed');
    this.surveys = 0;
    const t: KoorTask = {
      id: j.id,
      key: data.key,
      title: String(j.title ?? data.key),
      files: Array.isArray(data.files) ? data.files : [],
      shared: data.shared ?? null,
      attempts: Number(j.attempts ?? 1),
      checkpoint: j.checkpoint ?? null,
      edited: [],
      had: [],
      pushes: 0,
      denied: [],
      denier: '',
      killedHere: false,
      lease: null,
    };
    this.task = t;
    this.rec('claim', { at: c.at, task: t.key, detail: `attempt ${t.attempts}${t.checkpoint ? `, checkpoint by ${t.checkpoint.by_name ?? '?'}: ${t.checkpoint.done ?? ''}` : ''}` });
    const pull = s.get('pull');
    const start = (): Reply => {
      // A task given back over a refused file (by this agent, or by the one whose checkpoint it
      // resumes from): wait until those files are free, rather than be refused and give it back again.
      const fromCheckpoint: string[] = Array.isArray(t.checkpoint?.data?.refused) ? t.checkpoint!.data.refused : [];
      const refused = [...new Set([...(this.yielded?.id === t.id ? this.yielded.files : []), ...fromCheckpoint])].filter((f) => t.files.includes(f));
      this.yielded = null;
      if (refused.length === 0) return this.startWork(t);
      return this.bash(this.takeCommand(t, refused), (w) => {
        const out = w.get('free')?.out ?? '';
        // A lease prints as {"id":…; a refusal as {"error":…,"conflicts":[…]}.
        t.lease = /^lease: \{"id":"([^"]+)"/m.exec(out)?.[1] ?? null;
        this.rec('wait', { at: w.get('free')?.at, task: t.key, files: refused, detail: `for ${refused.join(', ')}: ${out.trim().split('\n').filter((l) => !l.startsWith('lease: ')).at(-1) ?? ''}${t.lease ? ', leased' : ', not leased'}` });
        return this.bash('git pull --rebase -q 2>&1; ' + stamp('pull'), () => this.startWork(t));
      });
    };
    if (pull !== undefined && pull.code !== 0) return this.bash(RESET, start);
    return start();
  }

  /**
   * Takes `files` with a lease of its own, `lease acquire --wait` (bounded): a check that they
   * are free, then an edit, loses the file to whoever claims a task on it in between (the swarm
   * saw it), where an acquire either gets them or waits. Released with the task.
   */
  private takeCommand(t: KoorTask, files: readonly string[]): string {
    const acquire = `koor-cli lease acquire ${q(files.join(','))} --reason ${q(`task ${t.key}: refused before`)} --wait ${MAX_FREE_WAIT_S}s`;
    return `SECONDS=0; ${acquire} 2>&1 | head -c 80 | sed '1s/^/lease: /'; echo; echo "waited $SECONDS s"; ${stamp('free')}`;
  }

  /** A task some agent worked on before (a checkpoint, or a later attempt): what already reached the origin is not done again. */
  private startWork(t: KoorTask): Reply {
    if (t.checkpoint !== null || t.attempts > 1) {
      return this.bash(this.verifyCommand(t.key, t.files), (s) => {
        t.had = this.present(s, t.files);
        const cp = t.checkpoint;
        const claimedDone: string[] = Array.isArray(cp?.data?.files) ? cp!.data.files : [];
        this.rec('resume', { task: t.key, files: t.had, detail: `checkpoint: ${cp ? `done "${cp.done ?? ''}", next "${cp.next ?? ''}", by ${cp.by_name ?? '?'}` : 'none'}; ${t.had.length}/${t.files.length} files already in the origin; the checkpoint listed ${claimedDone.length} as edited` });
        return this.edit(t, t.files.filter((f) => !t.had.includes(f)));
      });
    }
    return this.edit(t, t.files);
  }

  private edit(t: KoorTask, files: readonly string[]): Reply {
    if (files.length === 0) return this.afterEdits(t);
    return this.call(this.editBlocks(t, files), (results, req) => {
      const denied: string[] = [];
      const stale: string[] = [];
      const ok = files.filter((_, i) => !results[i]!.isError);
      if (ok.length > 0) this.rec('edited', { at: req.at, task: t.key, files: ok });
      results.forEach((r, i) => {
        const f = files[i]!;
        if (!r.isError) t.edited.push(f);
        else if (/Pull first \(git pull --rebase\)/.test(r.text)) {
          stale.push(f);
          this.rec('pull-first', { task: t.key, files: [f], detail: r.text.slice(0, 300) });
        } else if (/hook error: Koor:|is leased by/.test(r.text)) {
          denied.push(f);
          t.denier = /leased by agent (\S+)/.exec(r.text)?.[1] ?? '';
          this.rec('denied', { task: t.key, files: [f], detail: r.text.slice(0, 300) });
        } else this.rec('denied', { task: t.key, files: [f], detail: `edit failed: ${r.text.slice(0, 200)}` });
      });
      t.denied = denied;
      // Asked to pull first (another agent changed the file since this clone's last pull): pull, keeping the edits made, and edit it again.
      if (stale.length > 0 && denied.length === 0) {
        return this.bash(`git pull --rebase --autostash -q 2>&1; ${stamp('pull')}`, () => this.edit(t, stale));
      }
      if (denied.length > 0 || t.edited.length + t.had.length < t.files.length) return this.yieldTask(t);
      return this.afterEdits(t);
    });
  }

  private afterEdits(t: KoorTask): Reply {
    if (!this.cfg.features.checkpoints) {
      if (this.shouldDie(t)) return this.kill(t.key, t.edited);
      return this.testFirst(t.key, () => this.push(t));
    }
    const cmd = `koor-cli task checkpoint ${t.id} --done ${q(`edited ${t.edited.join(', ') || 'nothing'} (not pushed yet)`)} --next ${q('commit, push, task done')} --data ${q(JSON.stringify({ files: t.edited, pushed: false }))}; ${stamp('checkpoint')}`;
    return this.bash(cmd, (s) => {
      const c = s.get('checkpoint');
      this.rec('checkpoint', { at: c?.at, task: t.key, files: t.edited, detail: c?.code === 0 ? 'ok' : `failed: ${(c?.out ?? s.text).trim().slice(0, 200)}` });
      if (this.shouldDie(t)) return this.kill(t.key, t.edited);
      return this.testFirst(t.key, () => this.push(t));
    });
  }

  private shouldDie(t: KoorTask): boolean {
    return this.cfg.killAt === 'after-edits' && this.tasksDone === 0 && t.edited.length > 0;
  }

  private push(t: KoorTask, then: () => Reply = () => this.doneThenClaim(t)): Reply {
    if (t.edited.length === 0) return then();
    if (++t.pushes > MAX_PUSH_ATTEMPTS) return this.end(`gave up pushing ${t.key}`, 'budget');
    return this.bash(PUSH(t.edited, `swarm ${t.key}: ${t.title}`), (s) => {
      // A retry finds its commit made already ("nothing to commit"): the push is what counts.
      const pushed = s.get('push')?.code === 0 ? s.get('push') : s.get('push2')?.code === 0 ? s.get('push2') : undefined;
      if (pushed) {
        this.rec('pushed', { at: pushed.at, task: t.key, files: t.edited, detail: s.get('push')?.code === 0 ? 'first try' : 'after a pull' });
        return then();
      }
      const rebase = s.get('rebase');
      if (rebase !== undefined && rebase.code !== 0) {
        this.rec('conflict', { at: rebase.at, task: t.key, files: t.edited, detail: rebase.out.trim().slice(0, 300) });
        // The local commit goes; the task's edits are made again on the origin's head.
        return this.bash(RESET, () => {
          const redo = t.edited;
          this.rec('redo', { task: t.key, files: redo });
          t.edited = [];
          return this.call(this.editBlocks(t, redo), (results, req) => {
            results.forEach((r, i) => {
              if (!r.isError) t.edited.push(redo[i]!);
            });
            if (t.edited.length > 0) this.rec('edited', { at: req.at, task: t.key, files: t.edited });
            return this.push(t, then);
          });
        });
      }
      // Rejected again (another push landed meanwhile): pull and push once more.
      return this.push(t, then);
    });
  }

  /** An edit was denied: push what was edited, say what is left in a checkpoint, release the task. */
  private yieldTask(t: KoorTask): Reply {
    return this.push(t, () => {
      const left = t.files.filter((f) => !t.edited.includes(f) && !t.had.includes(f));
      const reason = `${left.join(', ')} leased by ${t.denier || 'another agent'}`;
      const cp = this.cfg.features.checkpoints
        ? `koor-cli task checkpoint ${t.id} --done ${q(`pushed ${[...t.had, ...t.edited].join(', ') || 'nothing'}`)} --next ${q(`edit ${left.join(', ')} once free (refused: ${reason})`)} --data ${q(JSON.stringify({ files: [...t.had, ...t.edited], pushed: true, refused: t.denied }))}; ${stamp('checkpoint')}; `
        : '';
      return this.bash(`${cp}koor-cli task release ${t.id} --reason ${q(reason)}; ${stamp('release')}${t.lease ? `; koor-cli lease release ${t.lease} >/dev/null` : ''}`, (s) => {
        const r = s.get('release');
        const back = jsonIn(r?.out ?? '');
        this.rec('release', { at: r?.at, task: t.key, files: left, detail: r?.code === 0 ? `${reason}; task ${back?.status ?? '?'} after ${back?.attempts ?? '?'} attempt(s)` : `release failed: ${(r?.out ?? '').trim().slice(0, 200)}` });
        this.yielded = { id: t.id, files: t.denied };
        this.task = null;
        // Back off before the next claim: the file it needs is someone else's for now.
        return this.claim('sleep 2; ');
      });
    });
  }

  /** Nothing to claim: is anything left on the board? */
  private survey(): Reply {
    if (this.cfg.idle) return this.end(`No task ready in ${this.cfg.project}; waiting to be woken.`);
    if (++this.surveys > MAX_SURVEYS) return this.end('surveyed too often', 'budget');
    const p = q(this.cfg.project);
    return this.bash(`koor-cli task list ${p} --status ready --limit 1; ${stamp('ready')}; koor-cli task list ${p} --status claimed --limit 1; ${stamp('busy')}`, (s) => {
      const ready = jsonIn(s.get('ready')?.out ?? '');
      const busy = jsonIn(s.get('busy')?.out ?? '');
      if (Array.isArray(ready) && ready.length > 0) return this.claim('sleep 1; ');
      // Someone is at work: what it finishes (or gives back) may become claimable. Blocked tasks
      // with nobody at work wait on a task that failed: nothing to wait for.
      if (Array.isArray(busy) && busy.length > 0) {
        return this.claim(`koor-cli wait --for tasks --project ${p} --timeout ${this.cfg.waitS}s >/dev/null 2>&1; ${stamp('wait')}; `);
      }
      return this.end(`No task left in ${this.cfg.project} that anyone can do: the backlog is drained.`);
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Without Koor: tasks.json in the repository

interface FileWork {
  task: FileTask;
  edited: string[];
  pushes: number;
}

export class BaselineAgent extends ScriptedAgent {
  private lastList = '';
  private lastChange = Date.now();
  private tasksDone = 0;

  protected turn(): Reply {
    return this.pick('');
  }

  private pick(prefix: string): Reply {
    return this.bash(`${prefix}git pull --rebase -q 2>&1; ${stamp('pull')}; cat tasks.json; ${stamp('cat')}`, (s) => {
      const pull = s.get('pull');
      if (pull !== undefined && pull.code !== 0) return this.bash(RESET, () => this.pick(''));
      const text = s.get('cat')?.out ?? '';
      const tasks = parseTasksJson(text);
      if (tasks === null) return this.bash(RESET, () => this.pick('sleep 1; '));
      if (text !== this.lastList) {
        this.lastList = text;
        this.lastChange = Date.now();
      }
      const mine = tasks.filter((t) => t.team === this.cfg.project);
      const doneKeys = new Set(tasks.filter((t) => t.status === 'done').map((t) => t.key));
      const open = mine.find((t) => t.status === 'open' && t.deps.every((d) => doneKeys.has(d)));
      if (open) return this.claim(open);
      const left = mine.filter((t) => t.status !== 'done');
      if (left.length === 0 || this.cfg.idle) return this.end(left.length === 0 ? `Nothing open for ${this.cfg.project} in tasks.json.` : `Nothing open for ${this.cfg.project}; waiting.`);
      if (Date.now() - this.lastChange > this.cfg.giveUpMs) return this.end(`${left.length} task(s) still claimed or blocked, no change for ${Math.round(this.cfg.giveUpMs / 1000)} s: giving up.`, 'gave-up');
      this.rec('poll', { detail: `${left.length} left, none open` });
      return this.pick('sleep 3; ');
    });
  }

  private claim(t: FileTask): Reply {
    const line = taskLine(t);
    const mine = taskLine({ ...t, status: 'claimed', owner: this.cfg.name });
    return this.call([{ name: 'Edit', input: { file_path: this.abs('tasks.json'), old_string: line, new_string: mine } }], (r) => {
      if (r[0]!.isError) return this.pick('');
      return this.bash(PUSH(['tasks.json'], `claim ${t.key} (${this.cfg.name})`), (s) => this.claimPushed(t, s));
    });
  }

  private claimPushed(t: FileTask, s: Steps): Reply {
    const pushed = s.get('push')?.code === 0 ? s.get('push') : s.get('push2')?.code === 0 ? s.get('push2') : undefined;
    if (pushed) {
      this.rec('claim', { at: pushed.at, task: t.key });
      const w: FileWork = { task: { ...t, status: 'claimed', owner: this.cfg.name }, edited: [], pushes: 0 };
      return this.edit(w, w.task.files);
    }
    const rebase = s.get('rebase');
    if (rebase !== undefined && rebase.code !== 0) this.rec('conflict', { at: rebase.at, task: t.key, files: ['tasks.json'], detail: `claim: ${rebase.out.trim().slice(0, 300)}` });
    else this.rec('claim-failed', { task: t.key, detail: 'claim push rejected twice' });
    // Someone else changed the list meanwhile: start over from the origin's list.
    return this.bash(RESET, () => this.pick(''));
  }

  private edit(w: FileWork, files: readonly string[]): Reply {
    const t = w.task;
    const shared = (t.files.find((f) => f === 'package.json' || f === 'src/index.ts') ?? null) as SharedFile | null;
    const blocks = this.editBlocks({ key: t.key, title: t.title, shared }, files);
    blocks.push({ name: 'Edit', input: { file_path: this.abs('tasks.json'), old_string: taskLine(t), new_string: taskLine({ ...t, status: 'done' }) } });
    return this.call(blocks, (results) => {
      w.edited = files.filter((_, i) => !results[i]!.isError);
      if (this.cfg.killAt === 'after-edits' && this.tasksDone === 0 && w.edited.length > 0) return this.kill(t.key, w.edited);
      return this.testFirst(t.key, () => this.push(w));
    });
  }

  private push(w: FileWork): Reply {
    const t = w.task;
    if (++w.pushes > MAX_PUSH_ATTEMPTS) return this.end(`gave up pushing ${t.key}`, 'budget');
    return this.bash(PUSH([...w.edited, 'tasks.json'], `swarm ${t.key}: ${t.title} (done)`), (s) => {
      const pushed = s.get('push')?.code === 0 ? s.get('push') : s.get('push2')?.code === 0 ? s.get('push2') : undefined;
      if (pushed) {
        this.tasksDone++;
        this.rec('pushed', { at: pushed.at, task: t.key, files: w.edited, detail: s.get('push')?.code === 0 ? 'first try' : 'after a pull' });
        this.rec('done', { at: pushed.at, task: t.key });
        return this.pick('');
      }
      const rebase = s.get('rebase');
      if (rebase !== undefined && rebase.code !== 0) {
        this.rec('conflict', { at: rebase.at, task: t.key, files: [...w.edited, 'tasks.json'], detail: rebase.out.trim().slice(0, 300) });
        return this.bash(RESET, () => {
          this.rec('redo', { task: t.key, files: w.task.files });
          return this.edit(w, w.task.files);
        });
      }
      return this.push(w);
    });
  }
}
