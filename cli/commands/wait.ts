import { INSTANCE_OPTION, UsageError, asAgent, commaList, defineCommand, durationOption, okJson, request, seg, shellWord } from '../core.js';

const KINDS = ['messages', 'tasks'] as const;

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
    const timeoutText = opt.timeout ?? '10m';
    const timeoutMs = durationOption('timeout', timeoutText);
    let kinds: string[] | null = null;
    if (opt.for !== undefined) {
      kinds = commaList(opt.for);
      const bad = kinds.find((k) => !(KINDS as readonly string[]).includes(k));
      if (bad !== undefined || kinds.length === 0) throw new UsageError(`--for takes messages, tasks or both, got ${opt.for}`);
    }
    const agent = asAgent(ctx, opt.instance);
    const wantTasks = kinds === null ? undefined : kinds.includes('tasks');
    let project = opt.project;
    let capabilities: string[] | null = null;
    // Who this agent is (its capabilities, its project), when tasks may be watched and the id is known.
    if (wantTasks !== false && agent.config.instance !== '') {
      const me = okJson<{ workspace: string; capabilities: string[] }>(await request(agent.config, 'GET', `/api/instances/${seg(agent.config.instance)}`));
      if (me === null) return 1;
      capabilities = me.capabilities;
      project ??= projectOf(me.workspace);
    }
    if (wantTasks === true && project === undefined) throw new UsageError('--for tasks needs --project (or an agent registered with a workspace)');
    const { wait } = await import('../waiter.js');
    return wait({
      config: agent.config,
      messages: kinds === null || kinds.includes('messages'),
      tasks: (wantTasks ?? project !== undefined) && project !== undefined ? { project, capabilities } : null,
      timeoutMs,
      timeoutText,
      hook: opt.hook,
      agentArgs: opt.instance === undefined || opt.instance === '' ? '' : ` --instance ${shellWord(opt.instance)}`,
    });
  },
});
