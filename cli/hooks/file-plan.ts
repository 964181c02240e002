/**
 * Planning the files `koor-cli init` writes for a client: each computed (and checked) before
 * anything is written, and left exactly as it is when its content would not change.
 */
import type { FilePlan } from './clients/adapter.js';
import { mergeHookMap, objectAt, readJsonFile, renderJson, withKey, type JsonFile, type Style } from './files.js';

/** The plan of a JSON file that should hold `doc` (null: removed). */
export function planJson(f: JsonFile, doc: Record<string, unknown> | null): FilePlan {
  if (doc === null) return { file: f.file, text: null, outcome: f.before === null ? 'unchanged' : 'removed', mode: 0o644 };
  // Same content: the file is left exactly as it is, however it is formatted.
  if (f.before !== null && JSON.stringify(doc) === JSON.stringify(f.doc) && f.before.trim() !== '') return { file: f.file, text: f.before, outcome: 'unchanged', mode: 0o644 };
  const text = renderJson(f, doc);
  return { file: f.file, text, outcome: f.before === null ? 'created' : f.before === text ? 'unchanged' : 'updated', mode: 0o644 };
}

/**
 * One hook file: Koor's entries in `hooks` replaced by `want` (null: removed). On removal a file
 * left with nothing but `head` members (Cursor's `version`) is deleted; so is an empty one.
 */
export function hookFile(root: string, cwd: string, rel: string, want: Record<string, unknown[]> | null, style: Style, head: Record<string, unknown>): FilePlan {
  const f = readJsonFile(root, rel, cwd);
  if (want === null && f.before === null) return planJson(f, null);
  let doc = f.doc;
  // Members Koor needs first (Cursor's "version": 1), when the file does not have them.
  for (const [k, v] of Object.entries(head)) if (want !== null && !Object.hasOwn(doc, k)) doc = { [k]: v, ...doc };
  const hooks = mergeHookMap(f, objectAt(f, doc, 'hooks', 'hooks'), want, 'hooks', style);
  doc = withKey(doc, 'hooks', hooks);
  if (want === null && Object.keys(doc).every((k) => Object.hasOwn(head, k) && doc[k] === head[k])) return planJson(f, null);
  return planJson(f, doc);
}
