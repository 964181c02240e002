/**
 * The Koor text a swarm session's model was sent, read from its requests as they arrive (the
 * swarm's fake model API), and the files the model edited: what bench/swarm/report.ts reports of
 * a session's context, without keeping the requests. With several teams on one server
 * also every claim refused because all ready tasks were blocked (and by whom), and every text
 * that names another repository's agents, project or files.
 */
import { Tiktoken } from 'js-tiktoken/lite';
import o200k_base from 'js-tiktoken/ranks/o200k_base';
import type { ApiRequest } from '../clients/claude-code.js';
import type { SwarmTask } from './backlog.js';

const enc = new Tiktoken(o200k_base);
const tokens = (s: string): number => enc.encode(s).length;

export type InjectedKind = 'orientation' | 'prompt' | 'digest' | 'stop' | 'deny' | 'wake';

export interface Injected {
  kind: InjectedKind;
  text: string;
  tokens: number;
  /** Index of the first agent request that carried it, and when it arrived. */
  request: number;
  at: number;
}

/** Each text of a message's content, and whether it is a tool's result. */
function texts(content: unknown, tool = false): Array<{ text: string; tool: boolean }> {
  if (typeof content === 'string') return [{ text: content, tool }];
  if (!Array.isArray(content)) return [];
  const out: Array<{ text: string; tool: boolean }> = [];
  for (const b of content as any[]) {
    if (b?.type === 'text' && typeof b.text === 'string') out.push({ text: b.text, tool });
    else if (b?.type === 'tool_result') out.push(...texts(b.content, true));
  }
  return out;
}

/**
 * A claim refused with ready tasks all blocked (`no task ready in web: 3 ready tasks, all
 * blocked: package.json held by ann (task #12)`), as a tool's result carried it.
 */
export interface Withheld {
  project: string;
  ready: number;
  path: string;
  /** Who holds it, as the refusal names it (an agent's name). */
  holder: string;
  request: number;
  at: number;
}

const WITHHELD = /no task ready in (\S+): (\d+) ready tasks?, all blocked: (\S+) held by ([^\s(,;]+)/g;

/** A text the client sent that names another repository (`watch` matched). */
export interface Mention {
  /** A Koor piece's kind, `claim` (a claim's refusal in a tool's result), `tool result` (any other), or `other`. */
  where: InjectedKind | 'claim' | 'tool result' | 'other';
  /** What matched. */
  match: string;
  /** Around it. */
  excerpt: string;
  request: number;
  at: number;
}

/** The Koor-authored pieces of one text the client sent (what its hooks returned, as the client framed it). */
function piecesOf(t: string): Array<{ kind: InjectedKind; text: string }> {
  const out: Array<{ kind: InjectedKind; text: string }> = [];
  const until = (from: number): string => {
    const rest = t.slice(from);
    const end = rest.search(/\n\n|\n?<\/system-reminder>|\n?&lt;\/system-reminder&gt;/);
    return (end < 0 ? rest : rest.slice(0, end)).trim();
  };
  const scan = (re: RegExp, kind: InjectedKind) => {
    for (const m of t.matchAll(re)) out.push({ kind, text: until(m.index! + m[0].length) });
  };
  scan(/SessionStart(?::\w+)? hook additional context: /g, 'orientation');
  scan(/UserPromptSubmit hook additional context: /g, 'prompt');
  scan(/PostToolUse:\w+ hook additional context: /g, 'digest');
  scan(/PreToolUse:\w+ hook error: /g, 'deny');
  scan(/Stop hook feedback:\n/g, 'stop');
  scan(/Stop hook blocking error from command "Stop": /g, 'wake');
  return out.filter((p) => p.text !== '' && !(p.kind === 'stop' && p.text.startsWith('[')));
}

/**
 * What the report reads of one session's model requests, taken from each agent request as it
 * arrives, so the requests need not be kept (each carries the whole conversation: keeping them
 * took O(turns²) memory, a 16-GB heap at 30 sessions).
 * - `injected`: every piece of Koor text the model was sent, once each (a conversation repeats its
 *   whole history in every request: a piece counts at the first request that carries it, keyed by
 *   where it sits). A Stop block reaches the model twice (the feedback and a system line
 *   repeating it): counted once.
 * - `edits[k]`: the files a Write or Edit of the model names for the first time in agent request k.
 */
export class RequestDigest {
  readonly injected: Injected[] = [];
  readonly edits: string[][] = [];
  /** Claims refused with every ready task blocked, and by whom. */
  readonly withheld: Withheld[] = [];
  /** Texts naming another repository's agents, project or files (`watch`), once each. */
  readonly mentions: Mention[] = [];
  private readonly seen = new Set<string>();
  private readonly texts = new Set<string>();
  private readonly files = new Set<string>();

  /** `watch`: what names another repository (global flag; null: nothing to watch). Read from each request as it comes: set before the session starts. */
  constructor(public watch: RegExp | null = null) {}

  /** The next agent request, in the order they arrived. */
  add(req: ApiRequest): void {
    const k = this.edits.length;
    const edited: string[] = [];
    const msgs = (req.body?.messages ?? []) as any[];
    msgs.forEach((m, i) => {
      texts(m?.content).forEach(({ text: t, tool }, j) => {
        // Each text once, where it sits (messages[1], rebuilt each turn, by its text alone).
        const at = i <= 1 ? t : `${i}:${j}:${t}`;
        if (!this.texts.has(at)) {
          this.texts.add(at);
          this.scan(t, tool, k, req.at);
        }
        for (const p of piecesOf(t)) {
          // messages[1] (the environment) is rebuilt each turn: its pieces are keyed by text alone.
          const key = i <= 1 ? `${p.kind}:${p.text}` : `${i}:${j}:${p.kind}:${p.text}`;
          if (this.seen.has(key)) continue;
          this.seen.add(key);
          this.injected.push({ ...p, tokens: tokens(p.text), request: k, at: req.at });
        }
      });
      if (m?.role !== 'assistant' || !Array.isArray(m.content)) return;
      for (const b of m.content) {
        const f = b?.type === 'tool_use' && (b.name === 'Write' || b.name === 'Edit') ? String(b.input?.file_path ?? '') : '';
        const rel = f.startsWith('/') ? f.split('/shop/').slice(1).join('/shop/') : '';
        if (rel && !this.files.has(rel)) {
          this.files.add(rel);
          edited.push(rel);
        }
      }
    });
    this.edits.push(edited);
  }

  /** A text seen for the first time: the claims it says were withheld, and what in it names another repository. */
  private scan(t: string, tool: boolean, request: number, at: number): void {
    for (const m of t.matchAll(WITHHELD)) this.withheld.push({ project: m[1]!, ready: Number(m[2]), path: m[3]!, holder: m[4]!, request, at });
    if (this.watch === null) return;
    const pieces = piecesOf(t);
    for (const m of t.matchAll(this.watch)) {
      const piece = pieces.find((p) => p.text.includes(m[0]));
      const where: Mention['where'] = piece ? piece.kind : /no task ready in/.test(t) ? 'claim' : tool ? 'tool result' : 'other';
      const from = Math.max(0, m.index! - 120);
      this.mentions.push({ where, match: m[0], excerpt: t.slice(from, m.index! + m[0].length + 120), request, at });
    }
  }
}

/**
 * Koor's text in any client's requests, counted the same way for every client: each paragraph
 * that starts with `Koor:` (what the hooks and the OpenCode plugin write) in the texts a request
 * sent the model. A conversation repeats its history in every request, so a piece counts as
 * often as it appears more than it did in any request before.
 */
export class KoorText {
  tokens = 0;
  pieces = 0;
  private readonly most = new Map<string, number>();

  add(texts: readonly string[]): void {
    const now = new Map<string, number>();
    for (const t of texts) for (const m of t.matchAll(/Koor:[\s\S]*?(?=\n\n|<\/hook_context>|&lt;\/hook_context&gt;|$(?![\s\S]))/g)) now.set(m[0].trim(), (now.get(m[0].trim()) ?? 0) + 1);
    for (const [text, n] of now) {
      const had = this.most.get(text) ?? 0;
      if (n <= had) continue;
      this.most.set(text, n);
      this.pieces += n - had;
      this.tokens += (n - had) * tokens(text);
    }
  }
}

/** Other repositories on the server (earlier arms): what names them in a session's context. */
export interface Elsewhere {
  /** Their agents' names. */
  names: string[];
  /** Their projects. */
  projects: string[];
  /** Their tasks' key letters (their files are src/<topic>/<letter><nn>.ts). */
  prefixes: string[];
}

/** The regexp of what names a repository other than `mine` in a session's context: agents' names, projects, task files and titles. */
export function watchFor(others: Elsewhere, minePrefix: string): RegExp | null {
  const esc = (x: string) => x.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const alts: string[] = [];
  if (others.names.length > 0) alts.push(`(?<![\\w.-])(?:${others.names.map(esc).join('|')})(?![\\w-])`);
  if (others.projects.length > 0) alts.push(`(?<![\\w.-])(?:${others.projects.map(esc).join('|')})(?![\\w-])`);
  // Files and titles of a backlog whose keys have another letter (one with the same letter has the same names: told apart by its agents and project only).
  const letters = [...new Set(others.prefixes)].filter((p) => p !== minePrefix);
  for (const l of letters) alts.push(`\\bsrc/[a-z]+/${esc(l.toLowerCase())}\\d{2}(?:\\.test)?\\.ts\\b`, `\\b${esc(l)}\\d{2} (?:add|ops)\\b`);
  return alts.length === 0 ? null : new RegExp(alts.join('|'), 'g');
}

/** A backlog's key letter(s): `T` of T01. */
export const prefixOf = (tasks: readonly SwarmTask[]): string => tasks[0]?.key.replace(/\d+$/, '') ?? 'T';
