import type { Woke } from '../waiter.js';
import { INSTANCE_OPTION, UsageError, asAgent, commaList, defineCommand, durationOption, okJson, request, seg, shellWord } from '../core.js';

const KINDS = ['messages', 'tasks'] as const;
/** How often `wait --hook` looks whether its session still exists. */
const SESSION_CHECK_MS = 10_000;
/** How often `wait --hook` looks whether the client that ran it is still its parent. */
const PARENT_CHECK_MS = 1_000;
/** How long a wake-up may wait to hand its record (`hook.woken`) to the kernel before the model is woken anyway (the reply is not awaited). */
const WAKE_RECORD_TIMEOUT_MS = 2_000;

/** The project of a workspace: its last path segment (`/home/ann/shop` → `shop`), as `project:<p>` addressing reads it. */
function projectOf(workspace: string): string | undefined {
  const p = workspace.replace(/[\\/]+$/, '').split(/[\\/]/).pop();
  return p === undefined || p === '' ? undefined : p;
}

export default defineCommand({
  description: 'Block until something arrives for this agent: an unread message, or a task it may claim',
  details:
    'Prints what arrived in a few lines with the command to act on it (`koor-cli inbox`, `koor-cli task claim <project>`) and exits 0; at --timeout (default 10m) prints one line and exits 1. Marks nothing read; an unread message that is already waiting ends the wait at once. ' +
    '--for is messages, tasks or both (the default: both when the project is known, from --project or the workspace the agent registered with; else messages). A task counts when it is ready in the project and the agent has every capability it asks for. ' +
    'Survives dropped connections (it reconnects and looks again). --hook is for Claude Code (asyncRewake): what arrived goes to stderr and the exit code is 2; the timeout exits 0 silently. ' +
    'Needs an agent identity: --instance or KOOR_INSTANCE (or the agent token).',
  examples: [
    ['Wait up to 10 minutes for mail or work', '$0 wait'],
    ['Only messages, for 30 seconds', '$0 wait --for messages --timeout 30s'],
    ['As an asyncRewake hook of Claude Code', '$0 wait --hook --timeout 1h'],
  ],
  positionals: [],
  options: {
    timeout: { description: 'Give up after this long: 90s, 10m, 2h (default 10m)' },
    for: { description: 'messages, tasks or messages,tasks (default: both when the project is known)' },
    project: { description: 'The project whose ready tasks count (default: the last part of the workspace the agent registered with)' },
    hook: { description: 'For a Claude Code hook: report on stderr with exit 2; the timeout exits 0', boolean: true },
    ...INSTANCE_OPTION,
  },
  async run({ opt, ctx }) {
    // Copilot CLI runs Claude Code's hooks too, and would wait for this one in the foreground.
    if (opt.hook && process.env.COPILOT_CLI === '1') return 0;
    const timeoutText = opt.timeout ?? '10m';
    const timeoutMs = durationOption('timeout', timeoutText);
    let kinds: string[] | null = null;
    if (opt.for !== undefined) {
      kinds = commaList(opt.for);
      const bad = kinds.find((k) => !(KINDS as readonly string[]).includes(k));
      if (bad !== undefined || kinds.length === 0) throw new UsageError(`--for takes messages, tasks or both, got ${opt.for}`);
    }
    let project = opt.project;
    let agent = asAgent(ctx, opt.instance);
    let since = 0;
    let sessionId: string | null = null;
    let agentName = '';
    let release = () => {};
    if (opt.hook) {
      // Claude Code's Stop hook (asyncRewake): the session's own agent, woken only by what its digests have not told it.
      // Whoever ran this hook (the client, or the shell it ran it with), taken before anything is awaited.
      const parent = process.ppid;
      const { readHookInput, runsInForeground, singleWaiter } = await import('../hooks/wake.js');
      const input = await readHookInput(1000);
      // `claude -p "…"` runs this hook in the foreground: waiting would hold the run, and there is no later turn to wake.
      if (runsInForeground()) return 0;
      if (input?.session_id) {
        const s = okJson('GET /api/hooks/claude-code/sessions/{id}', await request(ctx.config, 'GET', `/api/hooks/claude-code/sessions/${seg(input.session_id)}`));
        // Not bound (Koor unreachable, or no hook reached it yet): nothing to wait for as this session.
        if (s === null) return 0;
        agent = asAgent(ctx, s.instance_id);
        agentName = s.name;
        since = s.message_cursor;
        project ??= s.project;
        release = singleWaiter(input.session_id);
        // The session ended (SessionEnd unbinds it): nothing left to wake; a headless client waits for this hook before it exits.
        const boundId = input.session_id;
        sessionId = boundId;
        const bound = setInterval(() => {
          void request(ctx.config, 'GET', `/api/hooks/claude-code/sessions/${seg(boundId)}`).then(
            (r) => {
              if (r.status !== 404) return;
              release();
              process.exit(0);
            },
            () => {},
          );
        }, SESSION_CHECK_MS);
        bound.unref();
        // The client is gone (killed, crashed: no SessionEnd came), this hook reparented: nothing left to wake.
        const orphan = setInterval(() => {
          if (process.ppid === parent) return;
          release();
          process.exit(0);
        }, PARENT_CHECK_MS);
        orphan.unref();
      }
    }
    const wantTasks = kinds === null ? undefined : kinds.includes('tasks');
    let capabilities: string[] | null = null;
    // Who this agent is (its capabilities, its project), when tasks may be watched and the id is known.
    if (wantTasks !== false && agent.config.instance !== '') {
      const me = okJson('GET /api/instances/{id}', await request(agent.config, 'GET', `/api/instances/${seg(agent.config.instance)}`));
      if (me === null) return 1;
      agentName ||= me.name;
      capabilities = me.capabilities;
      project ??= projectOf(me.workspace);
    }
    if (wantTasks === true && project === undefined) throw new UsageError('--for tasks needs --project (or an agent registered with a workspace)');
    const { wait } = await import('../waiter.js');
    const code = await wait({
      since,
      config: agent.config,
      messages: kinds === null || kinds.includes('messages'),
      tasks: (wantTasks ?? project !== undefined) && project !== undefined ? { project, capabilities } : null,
      timeoutMs,
      timeoutText,
      hook: opt.hook,
      agentArgs: opt.instance === undefined || opt.instance === '' ? '' : ` --instance ${shellWord(opt.instance)}`,
      // Recorded as an event (the dashboard's team page marks it); a wake-up is never held back by it.
      ...(opt.hook && agent.config.instance !== ''
        ? {
            onWake: (what: Woke) => {
              const data = { agent: agent.config.instance, agent_name: agentName, ...(sessionId === null ? {} : { session_id: sessionId }), ...what };
              return request({ ...agent.config, timeoutMs: WAKE_RECORD_TIMEOUT_MS }, 'POST', '/api/events/publish', { body: JSON.stringify({ topic: 'hook.woken', data }), sendOnly: true });
            },
          }
        : {}),
    });
    release();
    return code;
  },
});
