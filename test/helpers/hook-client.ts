import fs from 'node:fs';
import path from 'node:path';
import { Compile } from '../../schemas/typebox.js';
import { ClaudeHookOutput } from '../../schemas/http/hooks.js';
import { REPO } from './paths.js';

/**
 * Claude Code sessions as their hooks call Koor over HTTP, fed the hook input the real client
 * sends (test/fixtures/claude-code): every answer is checked against Claude Code's hook output.
 */

const fitsOutput = Compile(ClaudeHookOutput);
const FIXTURES = path.join(REPO, 'test', 'fixtures', 'claude-code');
export const fixture = (event: string): Record<string, any> => JSON.parse(fs.readFileSync(path.join(FIXTURES, `${event}.json`), 'utf8'));

type Headers = Record<string, string>;

export function client(base: string) {
  const call = async (method: string, p: string, body?: unknown, headers: Headers = {}) => {
    const r = await fetch(`${base}${p}`, { method, headers, body: body === undefined ? undefined : (Buffer.from(JSON.stringify(body)) as unknown as BodyInit) });
    const text = await r.text();
    return { status: r.status, body: text === '' ? null : JSON.parse(text), text };
  };
  /** A Claude Code session in `root` (a clone of the repository on some machine) as its hooks call Koor. */
  const session = (id: string, root: string, name = '') => {
    const headers: Headers = { 'x-koor-repo-root': root, ...(name ? { 'x-koor-agent-name': name } : {}) };
    const hook = async (event: string, extra: Record<string, unknown> = {}) => {
      const input = { ...fixture(event), session_id: id, cwd: root, transcript_path: `/tmp/${id}.jsonl`, ...extra };
      const r = await call('POST', '/api/hooks/claude-code', input, headers);
      if (r.status !== 200) throw new Error(`${event}: ${r.status} ${r.text}`);
      if (!fitsOutput.Check(r.body)) throw new Error(`${event}: not Claude Code's hook output: ${r.text}`);
      return r.body as { hookSpecificOutput?: { additionalContext?: string; permissionDecision?: string; permissionDecisionReason?: string }; decision?: string; reason?: string };
    };
    const edit = (file: string, tool = 'Write') => hook('PreToolUse', { tool_name: tool, tool_input: { file_path: path.isAbsolute(file) ? file : path.join(root, file), content: 'x' } });
    const edited = (file: string) => hook('PostToolUse', { tool_name: 'Write', tool_input: { file_path: path.join(root, file), content: 'x' } });
    return { id, hook, edit, edited };
  };
  return { call, session };
}

export const context = (o: { hookSpecificOutput?: { additionalContext?: string } }): string | undefined => o.hookSpecificOutput?.additionalContext;

