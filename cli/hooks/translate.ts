/**
 * What the client adapters (./clients/) share: the repository of a directory, the files an
 * apply_patch touches, and what Koor's Claude-Code-shaped replies said. Pure functions, each tested
 * on its own (test/unit/hook-translate.test.ts).
 */
import fs from 'node:fs';
import path from 'node:path';

import type { Obj } from './clients/adapter.js';
/** The shell tool as Claude Code's hooks name it, and Codex's (`exec_command`) likewise. */
export const SHELL_TOOL = 'Bash';
export const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);
export const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/** The repository a directory is in: the nearest ancestor holding `.git` (a clone or a worktree), else the directory. */
export function repoRootOf(dir: string): string {
  let d = path.resolve(dir);
  for (;;) {
    if (fs.existsSync(path.join(d, '.git'))) return d;
    const up = path.dirname(d);
    if (up === d) return path.resolve(dir);
    d = up;
  }
}

// ---------------------------------------------------------------------------------------------
// Input.

/** Paths a Codex `apply_patch` patch touches (added, updated, deleted, moved to), resolved against cwd. */
export function patchFiles(patch: string, cwd: string): string[] {
  const out: string[] = [];
  for (const m of patch.matchAll(/^\*\*\* (?:(?:Add|Update|Delete) File|Move to): (.+?)\s*$/gm)) {
    const p = path.resolve(cwd, m[1]!);
    if (!out.includes(p)) out.push(p);
  }
  return out;
}

/** Where edit tools name their file, across clients. */
const FILE_KEYS = ['file_path', 'path', 'target_file', 'filePath', 'target_notebook', 'notebook_path'];

export function filePathOf(toolInput: unknown, cwd: string): string | undefined {
  let ti = toolInput;
  if (typeof ti === 'string') {
    try {
      ti = JSON.parse(ti);
    } catch {
      return undefined;
    }
  }
  if (!isObj(ti)) return undefined;
  for (const k of FILE_KEYS) {
    const v = str(ti[k]);
    if (v !== undefined) return path.resolve(cwd, v);
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Output.

export interface Said {
  deny?: string;
  context: string[];
  /** A Stop hook's block: its reason continues the session. */
  block?: string;
}

/** What Koor's replies (Claude-Code-shaped) said, merged: the first deny, every distinct context, a Stop block. */
export function said(replies: readonly Obj[]): Said {
  const out: Said = { context: [] };
  for (const r of replies) {
    const hso = isObj(r.hookSpecificOutput) ? r.hookSpecificOutput : {};
    if (hso.permissionDecision === 'deny' && out.deny === undefined) out.deny = str(hso.permissionDecisionReason) ?? str(r.reason) ?? 'Koor denied this edit';
    const ctx = str(hso.additionalContext);
    if (ctx !== undefined && !out.context.includes(ctx)) out.context.push(ctx);
    if (r.decision === 'block' && out.block === undefined && str(r.reason)?.trim()) out.block = str(r.reason);
  }
  return out;
}
