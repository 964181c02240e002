import { execFileSync } from 'node:child_process';
import { CliError, INSTANCE_OPTION, asAgent, defineCommand, replyOf, request, writeErr, writeOut } from '../core.js';
import { repoProject } from '../project.js';

/** Staged paths relative to the repository root: added, changed, deleted, both sides of a rename. */
function stagedPaths(cwd: string): string[] {
  let out: string;
  try {
    out = execFileSync('git', ['diff', '--cached', '--name-only', '--no-renames', '-z'], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024 });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new CliError(`git diff --cached failed: ${(err.stderr ?? err.message).trim()}`);
  }
  return out.split('\0').filter((p) => p !== '');
}

export default defineCommand({
  description: 'For a git pre-commit hook: exit 1 when a staged file is leased exclusively by another agent',
  details:
    'Asks the server about every staged file (added, modified, deleted, renamed), within the repository\'s project (its origin remote, else its folder name; KOOR_PROJECT or --project overrides it), and names each one another agent holds under an exclusive lease, with the holder and reason. ' +
    "This agent's own leases (--instance or KOOR_INSTANCE) never block. `koor-cli init --hooks` installs it as .git/hooks/pre-commit. " +
    'If the server cannot be reached the commit goes ahead, with a warning.',
  positionals: [],
  options: {
    project: { description: "The project (default: this directory's, as `koor-cli status` shows it)" },
    ...INSTANCE_OPTION,
  },
  async run({ opt, ctx }) {
    const agent = asAgent(ctx, opt.instance);
    const me = agent.config.instance;
    const paths = stagedPaths(ctx.cwd);
    if (paths.length === 0) return 0;
    let reply;
    try {
      reply = await request(agent.config, 'POST', '/api/leases/check', { body: JSON.stringify({ paths, project: opt.project ?? repoProject(ctx.cwd).project }) });
    } catch (e) {
      writeErr(`koor: lease guard skipped, the server did not answer (${(e as Error).message})`);
      return 0;
    }
    if (reply.status !== 200) {
      writeOut(reply.body);
      return 1;
    }
    const blocked: string[] = [];
    for (const h of replyOf('POST /api/leases/check', reply)) {
      for (const l of h.leases) {
        if (!l.exclusive || l.holder === me) continue;
        blocked.push(`koor: ${h.path} is leased by ${l.holder_name}${l.reason ? ` (${l.reason})` : ''} [lease ${l.id}: ${l.resources.join(', ')}]`);
      }
    }
    if (blocked.length === 0) return 0;
    writeErr(blocked.join('\n'));
    writeErr(
      me === ''
        ? 'koor: commit refused. If one of these leases is yours, set KOOR_INSTANCE to your instance id and commit again.'
        : 'koor: commit refused: wait for those leases to be released, or leave those files out of this commit.',
    );
    return 1;
  },
});
