/**
 * The hooks suite's sessions as the server sees them: each one's id, agent name and own file, the
 * input Claude Code sends for a hook event (test/fixtures/claude-code/), and this process's HTTP
 * to the server (a hook call, a JSON request, the newest event).
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { REPO_ROOT } from '../lib/suite.js';

/** Concurrent sessions: one connection each. */
export const SESSIONS = 50;
/** The repository root every session reports (X-Koor-Repo-Root and the hook input's cwd). */
const ROOT = '/bench/shop';
const FIXTURES = path.join(REPO_ROOT, 'test', 'fixtures', 'claude-code');

export const sessionId = (k: number): string => `b0000000-0000-4000-8000-${String(k).padStart(12, '0')}`;
export const agentName = (k: number): string => `bench-s${String(k).padStart(2, '0')}`;
export const ownFile = (k: number): string => `src/mod-${k}/index.ts`;

const fixtures = new Map<string, Record<string, unknown>>();
/** A hook event's recorded input, read once (its objects shared: hookInput copies what it changes). */
function fixture(event: string): Record<string, unknown> {
  let f = fixtures.get(event);
  if (!f) fixtures.set(event, (f = JSON.parse(fs.readFileSync(path.join(FIXTURES, `${event}.json`), 'utf8')) as Record<string, unknown>));
  return f;
}

/** A hook's input as Claude Code sends it, for session `sid` in ROOT; `file` (repository-relative) for the tool events. */
export function hookInput(event: string, sid: string, file?: string): Record<string, unknown> {
  const f = fixture(event);
  const input: Record<string, unknown> = { ...f, session_id: sid, cwd: ROOT, transcript_path: `/home/dev/.claude/projects/-bench-shop/${sid}.jsonl` };
  if (file !== undefined) {
    const abs = `${ROOT}/${file}`;
    input.tool_input = { ...(f.tool_input as object), file_path: abs };
    if (f.tool_response) input.tool_response = { ...(f.tool_response as object), filePath: abs };
  }
  return input;
}

/** A shell command's hook input (Claude Code's Bash tool), for session `sid`; its output `stdout` after it. */
export const shellInput = (event: string, sid: string, command: string, description = command, stdout = 'ok\n'): Record<string, unknown> => ({
  ...hookInput(event, sid),
  tool_name: 'Bash',
  tool_input: { command, description },
  ...(event === 'PostToolUse' ? { tool_response: { stdout, stderr: '', interrupted: false } } : {}),
});

export const hookHeaders = (k: number): Record<string, string> => ({ 'content-type': 'application/json', 'x-koor-agent-name': agentName(k), 'x-koor-repo-root': ROOT });

/** HTTP from this process: keep-alive, one socket per session at most. */
export const agent = new http.Agent({ keepAlive: true, maxSockets: SESSIONS + 4 });

/**
 * One request. A kept-alive socket the server closed while idle (during a wrk run) fails the next
 * request on it before the server saw it: sent again once on a fresh socket (Node's documented
 * `reusedSocket` retry). `o.pool`: the sockets kept alive (the scale suite's has no cap).
 */
export function request(base: string, method: string, p: string, body?: string, headers: Record<string, string> = {}, retry = true, o: { pool?: http.Agent; timeoutMs?: number } = {}): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${base}${p}`, { method, agent: retry ? (o.pool ?? agent) : false, headers: { ...headers, ...(body !== undefined ? { 'content-length': Buffer.byteLength(body) } : {}) }, timeout: o.timeoutMs ?? 15_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${p}: timed out`)));
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (retry && req.reusedSocket && (err.code === 'ECONNRESET' || err.message === 'socket hang up')) resolve(request(base, method, p, body, headers, false, o));
      else reject(err);
    });
    req.end(body);
  });
}

export async function json<T>(base: string, method: string, p: string, body?: unknown, headers: Record<string, string> = {}): Promise<T> {
  const r = await request(base, method, p, body === undefined ? undefined : JSON.stringify(body), { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers });
  if (r.status !== 200) throw new Error(`${method} ${p}: ${r.status} ${r.text.slice(0, 300)}`);
  return (r.text === '' ? null : JSON.parse(r.text)) as T;
}

export const hook = (base: string, k: number, input: Record<string, unknown>) => json<Record<string, any>>(base, 'POST', '/api/hooks/claude-code', input, hookHeaders(k));
export const newestEvent = async (base: string): Promise<number> => (await json<Array<{ id: number }>>(base, 'GET', '/api/events/history?last=1')).at(-1)?.id ?? 0;
