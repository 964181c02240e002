/**
 * The Koor text a swarm session's model was sent, read from its requests as they arrive (the
 * swarm's fake model API), and the files the model edited: what bench/swarm/report.ts reports of
 * a session's context, without keeping the requests.
 */
import { Tiktoken } from 'js-tiktoken/lite';
import o200k_base from 'js-tiktoken/ranks/o200k_base';
import type { ApiRequest } from '../claude-code.js';

const enc = new Tiktoken(o200k_base);
export const tokens = (s: string): number => enc.encode(s).length;

export type InjectedKind = 'orientation' | 'prompt' | 'digest' | 'stop' | 'deny' | 'wake';

export interface Injected {
  kind: InjectedKind;
  text: string;
  tokens: number;
  /** Index of the first agent request that carried it, and when it arrived. */
  request: number;
  at: number;
}

function texts(content: unknown): string[] {
  if (typeof content === 'string') return [content];
  if (!Array.isArray(content)) return [];
  const out: string[] = [];
  for (const b of content as any[]) {
    if (b?.type === 'text' && typeof b.text === 'string') out.push(b.text);
    else if (b?.type === 'tool_result') out.push(...texts(b.content));
  }
  return out;
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
  private readonly seen = new Set<string>();
  private readonly files = new Set<string>();

  /** The next agent request, in the order they arrived. */
  add(req: ApiRequest): void {
    const k = this.edits.length;
    const edited: string[] = [];
    const msgs = (req.body?.messages ?? []) as any[];
    msgs.forEach((m, i) => {
      texts(m?.content).forEach((t, j) => {
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
}
