/**
 * The swarm's scripted agent without Koor (see agent.ts for what every scripted agent is): tasks
 * live in tasks.json in the repository. `git pull --rebase` + read it → take the first open task of
 * its team whose deps are done → mark it claimed (Edit of its line) → commit + push that claim (a
 * rejected push is pulled and pushed again; a conflict means another agent took a neighbouring or
 * the same line: counted, reset, and picked again) → Write/Edit its files and mark the line done →
 * commit + push (a conflict: counted, reset, the edits redone). With no open task but some still
 * claimed or blocked it polls (sleep + pull) until the list stops changing for `giveUpMs`.
 */
import type { Reply } from '../clients/claude-code.js';
import { parseTasksJson, taskLine, type FileTask, type SharedFile } from './backlog.js';
import { MAX_PUSH_ATTEMPTS, PUSH, RESET, ScriptedAgent, stamp, type Steps } from './agent.js';

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
