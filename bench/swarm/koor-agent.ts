/**
 * The swarm's scripted agent with Koor's hooks installed (see agent.ts for what every scripted
 * agent is): `koor-cli task claim <project>` → `git pull --rebase` → Write/Edit each file of the
 * task → `koor-cli task checkpoint` → `git commit` + `git push` (the pull retried on a rejected
 * push; a rebase conflict is counted, aborted, and the task's edits redone on the origin's head) →
 * `koor-cli task done`, chained with the next claim. A claim that carries a checkpoint (or a task
 * on its second attempt) is verified first: the files whose marker already reached the origin are
 * not edited again. An edit the hooks deny is obeyed: what was edited is pushed, a checkpoint says
 * what is left and which files were refused, the task is released; whoever claims it next (this
 * agent included) first waits until those files are free (`koor-cli lease check`, bounded) instead
 * of being refused again. With nothing to claim it asks the board: a task ready (but not for it
 * now) → a second later again; tasks still claimed by others → `koor-cli wait --for tasks` (the
 * Bash tool blocks until one is claimable), then claims again; nothing ready or claimed → the turn
 * ends. The idle session (`idle: true`) ends its turn at once instead and is woken by the Stop hook
 * (`koor-cli wait --hook`, asyncRewake) in stream-json mode.
 */
import type { Reply } from '../clients/claude-code.js';
import type { SharedFile } from './backlog.js';
import { jsonIn, MAX_PUSH_ATTEMPTS, PUSH, q, RESET, ScriptedAgent, stamp, stampOf, type Steps } from './agent.js';

/** Bounds of the loops the agent runs: claims that fail, looks at the board with nothing to claim. */
const MAX_CLAIM_ERRORS = 5;
const MAX_SURVEYS = 40;
/** How long an agent that got back a task it gave up waits to lease the refused file, seconds. */
const MAX_FREE_WAIT_S = 150;

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
