/**
 * The scale suite's parts: HTTP with one kept-alive socket per agent, the standing population
 * (other agents' leases, a backlog of tasks, a long event log), and the simulated agents — no
 * model: the requests a Claude Code session makes (test/fixtures/claude-code) around each turn,
 * edit and command, with a claim / checkpoint / complete cycle and a message now and then.
 */
import { Tiktoken } from 'js-tiktoken/lite';
import o200k_base from 'js-tiktoken/ranks/o200k_base';
import { pooled } from '../lib/async.js';
import { LatencyHistogram } from '../lib/latency.js';
import { hookInput, shellInput } from '../hooks/sessions.js';
import { LeanHttp } from '../lib/lean-http.js';

const enc = new Tiktoken(o200k_base);
export const tokens = (s: string): number => enc.encode(s).length;
/**
 * The larger of `max` and `s`'s tokens: a token is at least one byte of UTF-8, so a text of no
 * more than `max` bytes cannot exceed it and is not encoded (a thousand agents' digests, each
 * encoded, took a tenth of the load generator's CPU).
 */
const maxTokens = (max: number, s: string): number => (Buffer.byteLength(s) <= max ? max : Math.max(max, tokens(s)));

/** The project every agent and the population work in. */
const PROJECT = 'shop';
/** The repository root every session reports (as the hooks suite's: hookInput names its files there). */
const ROOT = '/bench/shop';

/** Kept-alive sockets, as many as requests at once: an agent's own, while its requests follow one another. */
export const lean = new LeanHttp();

/** One request, its body JSON (lean-http.ts: the generator must not be the limit at 1,000 agents). */
export const call = (base: string, method: string, p: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; text: string }> =>
  lean.request(base, method, p, body === undefined ? undefined : JSON.stringify(body), { ...headers, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) });

async function ok<T>(base: string, method: string, p: string, body?: unknown, headers: Record<string, string> = {}): Promise<T> {
  const r = await call(base, method, p, body, headers);
  if (r.status !== 200) throw new Error(`${method} ${p}: ${r.status} ${r.text.slice(0, 200)}`);
  return JSON.parse(r.text) as T;
}

export interface Population {
  leases: number;
  tasks: number;
  events: number;
}

/**
 * Grows the standing population to `to`: other agents' live leases (one file each, in the team's
 * project), a backlog of ready tasks, an event log. Lease i holds a file of task 2i (every other
 * task of the oldest, first in claim order, is blocked: a claim passes them by), the rest of the
 * leases files no task has. Called again, it adds what `to` has beyond what it made before.
 */
export function populator(base: string, log: (m: string) => void): (to: Population) => Promise<void> {
  const made: Population = { leases: 0, tasks: 0, events: 0 };
  let holders: Promise<Array<{ id: string }>> | null = null;
  const range = (from: number, to: number) => Array.from({ length: Math.max(0, to - from) }, (_, i) => from + i);
  return async (to) => {
    holders ??= Promise.all(Array.from({ length: 50 }, (_, h) => ok<{ id: string }>(base, 'POST', '/api/instances/register', { name: `pop-${h}`, workspace: PROJECT })));
    const hs = await holders;
    log(`population: ${to.leases} leases`);
    await pooled(range(made.leases, to.leases), 16, async (i) => {
      const file = 2 * i < to.tasks ? `src/backlog/${2 * i}/held.ts` : `pop/${i % 97}/${i}.ts`;
      await ok(base, 'POST', '/api/leases', { project: PROJECT, resources: [file], exclusive: true, reason: 'population' }, { 'x-koor-instance': hs[i % hs.length]!.id });
    });
    log(`population: ${to.tasks} tasks`);
    await pooled(range(made.tasks, to.tasks), 16, async (i) => void (await ok(base, 'POST', '/api/tasks', { project: PROJECT, title: `backlog item ${i}`, paths: [`src/backlog/${i}/**`] })));
    log(`population: ${to.events} events`);
    await pooled(range(made.events, to.events), 32, async (i) => void (await ok(base, 'POST', '/api/events/publish', { topic: 'ci.build', data: { run: i, status: 'passed' } })));
    Object.assign(made, to);
  };
}

/**
 * Claim round trips over the backlog as it stands: `claimers` agents (spread over the nodes at
 * `bases`) each claim a task, complete it and add one in its place (the backlog keeps its size),
 * `cycles` claims in all.
 */
export async function claimRound(bases: string[], claimers: number, cycles: number, round: string): Promise<{ latency: LatencyHistogram; errors: string[] }> {
  const latency = new LatencyHistogram();
  const errors: string[] = [];
  const ids = await Promise.all(Array.from({ length: claimers }, (_, c) => ok<{ id: string }>(bases[c % bases.length]!, 'POST', '/api/instances/register', { name: `claimer-${round}-${c}`, workspace: PROJECT }).then((r) => ({ id: r.id, base: bases[c % bases.length]! }))));
  let left = cycles;
  await pooled(ids, claimers, async ({ id, base }) => {
    const as = { 'x-koor-instance': id };
    while (left-- > 0) {
      const t0 = performance.now();
      const r = await call(base, 'POST', '/api/tasks/claim', { project: PROJECT }, as);
      latency.record(performance.now() - t0);
      if (r.status !== 200) {
        if (errors.length < 5) errors.push(`claim: ${r.status} ${r.text.slice(0, 160)}`);
        continue;
      }
      const task = JSON.parse(r.text) as { id: number };
      await ok(base, 'POST', `/api/tasks/${task.id}/complete`, {}, as);
      await ok(base, 'POST', '/api/tasks', { project: PROJECT, title: `in place of ${task.id}`, paths: [`src/again/${task.id}/**`] });
    }
  });
  return { latency, errors };
}

/** Round trips by kind, and every hook's whatever its kind. */
export interface Timings {
  latency: Map<string, LatencyHistogram>;
  hooks: LatencyHistogram;
  requests: number;
}

const newTimings = (): Timings => ({ latency: new Map(), hooks: new LatencyHistogram(), requests: 0 });

/**
 * What the agents saw in a step: in its join (every agent's SessionStart at once and its first
 * WARM_TURNS turns: the files it edits taken, the joins read as news) and in its measured window
 * after; failures and the largest texts in either.
 */
export interface Seen {
  phase: 'join' | 'window' | 'done';
  join: Timings;
  window: Timings;
  /** Agents past their join. */
  joined: number;
  errors: string[];
  digestTokensMax: number;
  startTokensMax: number;
  digests: number;
}

/** Turns an agent takes before the measured window may begin. */
export const WARM_TURNS = 2;

export const newSeen = (): Seen => ({ phase: 'join', join: newTimings(), window: newTimings(), joined: 0, errors: [], digestTokensMax: 0, startTokensMax: 0, digests: 0 });

/**
 * One simulated agent: a session bound at SessionStart, then turns every `turnMs` (jittered) until
 * `stop.at` (performance.now() clock; it may be moved while the agent runs; `seen.joined` counts it
 * once past its first WARM_TURNS): a prompt, two edits of its own files with their reports, a shell command, every fifth
 * turn a task claimed, checkpointed and completed, every tenth a message to the next agent (each
 * agent at its own phase of those: agents that join together do not all claim in the same turn), the
 * turn's Stop. Each request is timed under its kind.
 */
export async function runAgent(base: string, k: number, agents: number, turnMs: number, stop: { at: number }, seen: Seen): Promise<void> {
  const sid = `5ca1e000-0000-4000-8000-${String(k).padStart(12, '0')}`;
  const name = `scale-a${k}`;
  const headers = { 'x-koor-agent-name': name, 'x-koor-repo-root': ROOT };
  const timed = async (kind: string, fn: () => Promise<{ status: number; text: string }>, isHook = false): Promise<string | null> => {
    const t0 = performance.now();
    const r = await fn();
    const ms = performance.now() - t0;
    if (seen.phase !== 'done') {
      const at = seen[seen.phase];
      let h = at.latency.get(kind);
      if (!h) at.latency.set(kind, (h = new LatencyHistogram()));
      h.record(ms);
      if (isHook) at.hooks.record(ms);
      at.requests++;
    }
    if (r.status !== 200) {
      if (seen.errors.length < 10) seen.errors.push(`${kind}: ${r.status} ${r.text.slice(0, 160)}`);
      return null;
    }
    return r.text;
  };
  const hook = async (kind: string, input: Record<string, unknown>): Promise<string | undefined> => {
    const text = await timed(kind, () => call(base, 'POST', '/api/hooks/claude-code', { ...input, session_id: sid, cwd: ROOT }, headers), kind !== 'session start');
    const out = text ? (JSON.parse(text) as { hookSpecificOutput?: { additionalContext?: string }; reason?: string }) : {};
    return out.hookSpecificOutput?.additionalContext ?? out.reason;
  };
  const file = (i: number) => `src/agent-${k}/file-${i}.ts`;
  const start = await hook('session start', hookInput('SessionStart', sid));
  if (start) seen.startTokensMax = maxTokens(seen.startTokensMax, start);
  const me = (await ok<{ instance_id: string }>(base, 'GET', `/api/hooks/claude-code/sessions/${sid}`)).instance_id;
  const agentHeaders = { 'x-koor-instance': me };
  // Agents start spread over a turn, not all at once.
  await new Promise((r) => setTimeout(r, Math.random() * turnMs));
  for (let turn = 0; performance.now() < stop.at; turn++) {
    const t0 = performance.now();
    const news = await hook('prompt', hookInput('UserPromptSubmit', sid));
    if (news) {
      seen.digests++;
      seen.digestTokensMax = maxTokens(seen.digestTokensMax, news);
    }
    for (let e = 0; e < 2; e++) {
      await hook('edit', hookInput('PreToolUse', sid, file((turn + e) % 3)));
      await hook('edit report', hookInput('PostToolUse', sid, file((turn + e) % 3)));
    }
    await hook('shell', shellInput('PreToolUse', sid, 'npm test'));
    await hook('shell', shellInput('PostToolUse', sid, 'npm test'));
    if ((turn + k) % 5 === 4) {
      const claimed = await timed('claim', () => call(base, 'POST', '/api/tasks/claim', { project: PROJECT }, agentHeaders));
      const id = claimed ? (JSON.parse(claimed) as { id?: number }).id : undefined;
      if (id !== undefined) {
        await timed('checkpoint', () => call(base, 'POST', `/api/tasks/${id}/checkpoint`, { done: 'half of it', next: 'the rest' }, agentHeaders));
        await timed('complete', () => call(base, 'POST', `/api/tasks/${id}/complete`, {}, agentHeaders));
      }
    }
    if ((turn + k) % 10 === 9) await timed('message', () => call(base, 'POST', '/api/messages', { to: [`scale-a${(k + 1) % agents}`], subject: 'status', body: 'done with my part' }, agentHeaders));
    const atStop = await hook('stop', hookInput('Stop', sid));
    if (atStop) {
      seen.digests++;
      seen.digestTokensMax = maxTokens(seen.digestTokensMax, atStop);
    }
    if (turn === WARM_TURNS - 1) seen.joined++;
    const left = turnMs * (0.8 + Math.random() * 0.4) - (performance.now() - t0);
    if (left > 0) await new Promise((r) => setTimeout(r, left));
  }
}
