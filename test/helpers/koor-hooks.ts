import fs from 'node:fs';
import path from 'node:path';

/**
 * Koor's Claude Code hooks in a repository, as `koor-cli init --claude-code` writes them
 * (.claude/settings.json; the repository root in .claude/settings.local.json's env).
 * TEMPORARY: until the installer lands, the same settings written here.
 */
export function installHooks(root: string, url: string): void {
  const http = {
    type: 'http',
    url: `${url}/api/hooks/claude-code`,
    headers: { Authorization: 'Bearer $KOOR_TOKEN', 'X-Koor-Agent-Name': '$KOOR_AGENT_NAME', 'X-Koor-Project': '$KOOR_PROJECT', 'X-Koor-Repo-Root': '$KOOR_REPO_ROOT' },
    allowedEnvVars: ['KOOR_TOKEN', 'KOOR_AGENT_NAME', 'KOOR_PROJECT', 'KOOR_REPO_ROOT'],
    timeout: 5,
  };
  const settings = {
    hooks: {
      UserPromptSubmit: [{ hooks: [http] }],
      PreToolUse: [{ matcher: 'Edit|Write|MultiEdit|NotebookEdit', hooks: [http] }],
      PostToolUse: [{ hooks: [http] }],
      Stop: [{ hooks: [http] }],
      SessionEnd: [{ hooks: [http] }],
    },
  };
  fs.mkdirSync(path.join(root, '.claude'), { recursive: true });
  fs.writeFileSync(path.join(root, '.claude', 'settings.json'), JSON.stringify(settings, null, 2));
  fs.writeFileSync(path.join(root, '.claude', 'settings.local.json'), JSON.stringify({ env: { KOOR_REPO_ROOT: root } }, null, 2));
}
