import { CliError, UsageError, call, commaList, defineCommand, intOption, readFileArg } from '../core.js';

export default defineCommand({
  description: "Add a task to a project's queue",
  details:
    'The task is ready at once, or blocked until every task in --deps is done. Agents take ready tasks with `task claim`: highest --priority first, then the oldest; ' +
    'only agents that have every one of --capabilities can claim it. A failed task is retried until it has had --max-attempts claims (default 3).',
  examples: [
    ['A task', `$0 task add web 'Paginate GET /api/trucks' --priority 5`],
    ['After tasks 12 and 13, for a GPU agent, with data', `$0 task add ml 'Train v2' --deps 12,13 --capabilities gpu --data '{"epochs":10}'`],
    ['A task that edits the API and package.json', `$0 task add web 'Add /api/trucks' --paths 'src/api/**,package.json'`],
  ],
  positionals: [{ name: 'project' }, { name: 'title' }],
  options: {
    data: { description: 'Task data, any JSON' },
    file: { description: 'Read the task data (JSON) from this file' },
    priority: { description: 'Higher is claimed first (default 0)' },
    deps: { description: 'Comma-separated ids of tasks that must be done first' },
    capabilities: { description: 'Comma-separated capabilities a claimer must have' },
    'max-attempts': { description: 'Claims before a failing task stays failed (default 3)' },
    paths: { description: 'Comma-separated path globs the task will touch: a claim takes an exclusive lease on them, and waits while another agent holds any' },
  },
  run: ({ pos, opt, ctx }) => {
    if (opt.data !== undefined && opt.file !== undefined) throw new UsageError('use either --data or --file, not both');
    const text = opt.file !== undefined ? readFileArg(opt.file).toString('utf8') : opt.data;
    if (text !== undefined) {
      try {
        JSON.parse(text);
      } catch (e) {
        throw new CliError(`invalid task data JSON: ${(e as Error).message}`);
      }
    }
    const body: Record<string, unknown> = { project: pos.project, title: pos.title };
    if (opt.priority !== undefined) body.priority = intOption('priority', opt.priority);
    if (opt.deps !== undefined) body.deps = commaList(opt.deps).map((d) => intOption('deps', d));
    if (opt.capabilities !== undefined) body.capabilities = commaList(opt.capabilities);
    if (opt['max-attempts'] !== undefined) body['max_attempts'] = intOption('max-attempts', opt['max-attempts']);
    if (opt.paths !== undefined) body.paths = commaList(opt.paths);
    // The data goes in as written (number text, member order are the caller's).
    const json = JSON.stringify(body);
    return call(ctx, 'POST', '/api/tasks', { retrySafe: true, body: text === undefined ? json : `${json.slice(0, -1)},"data":${text}}` });
  },
});
