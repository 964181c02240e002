import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { TABLES } from '../../schemas/db/tables/index.js';
import { REPO } from '../helpers/paths.js';

/**
 * Statements SQLite re-prepares at every run, found and kept from coming back. Any binding, even
 * of the same value, throws the plan away when the planner looked at that parameter's value:
 * - a comparison with a partial index's column the way the index's condition compares it
 *   (`expires_ms > ?` against `WHERE expires_ms > 0`, also inside an OR): a lease check joined to
 *   the lease table cost 15 µs instead of 0.5, a state page 5.5 instead of 0.5. Written `+column`,
 *   which no index is matched to;
 * - a bare parameter as LIMIT or OFFSET (the planner reads it as a constant): 20 µs instead of 2
 *   for a hook's inbox read, 40 instead of 2 for a claim's page. Written `CAST(? AS bigint)`.
 */

const ROOTS = ['src', 'workers', 'schemas'];
/** Where the partial indexes themselves are created. */
const MIGRATIONS = /(^|\/)(sqlite|pg)-migrations[^/]*\.ts$/;
/** Hits on another table's column of the same name (file: the comparison), each with why it is fine. */
const OTHER_TABLES = new Map([['src/domains/rules/reader.ts: status = ?', 'validation_rules.status, which no partial index covers']]);

function sources(dir: string, out: string[] = []): string[] {
  for (const e of fs.readdirSync(path.join(REPO, dir), { withFileTypes: true })) {
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory()) sources(rel, out);
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') && !MIGRATIONS.test(rel)) out.push(rel);
  }
  return out;
}

/** Each partial index's condition `column op literal`. */
const partial = TABLES.flatMap((table) => (table.indexes ?? []).flatMap((i) => {
  const m = i.where === undefined ? null : /^(\w+)\s*(<=|>=|<>|=|<|>)\s*\S+$/.exec(i.where);
  return m ? [{ column: m[1]!, op: m[2]! }] : [];
}));

/** The comparisons `column op ?` in `text`: not `+column`, not an assignment (after SET or a comma). */
function reprepared(text: string, column: string, op: string): string[] {
  const cmp = new RegExp(`(^|[^+\\w.])(\\w+\\.)?${column}\\s*${op}\\s*(CAST\\(\\s*)?\\?`, 'g');
  return [...text.matchAll(cmp)].filter((m) => !/(\bSET|,)\s*$/i.test(text.slice(0, m.index! + m[1]!.length))).map((m) => m[0].slice(m[1]!.length));
}

t.test('the check finds what it is about', async (t) => {
  t.ok(partial.some((p) => p.column === 'expires_ms') && partial.some((p) => p.column === 'expires_at'), `partial indexes: ${partial.map((p) => `${p.column} ${p.op}`).join(', ')}`);
  t.same(reprepared("'(l.expires_ms = 0 OR l.expires_ms > ?)'", 'expires_ms', '>'), ['l.expires_ms > ?']);
  t.same(reprepared("'x AND expires_ms > CAST(? AS bigint)'", 'expires_ms', '>'), ['expires_ms > CAST(?']);
  t.same(reprepared("'(+l.expires_ms = 0 OR +l.expires_ms > ?)'", 'expires_ms', '>'), []);
  t.same(reprepared("'WHERE expires_ms > 0 AND expires_ms <= ? AND expires_ms >= ?'", 'expires_ms', '>'), []);
  t.same(reprepared("'UPDATE m SET read_at = ?, x = ? WHERE read_at = ?'", 'read_at', '='), ['read_at = ?']);
});

t.test('no statement compares a partial index column with a parameter as the index does', async (t) => {
  const files = ROOTS.flatMap((r) => sources(r));
  t.ok(files.length > 100, `read ${files.length} files`);
  const found: string[] = [];
  for (const f of files) {
    const text = fs.readFileSync(path.join(REPO, f), 'utf8');
    for (const p of partial) for (const hit of reprepared(text, p.column, p.op)) if (!OTHER_TABLES.has(`${f}: ${hit}`)) found.push(`${f}: ${hit}`);
  }
  t.same(found, [], 'write the comparison `+column` (or name the other table in OTHER_TABLES)');
});

/** A LIMIT or OFFSET that is a bare parameter (`?`, `@name`, `$1`). */
const bareLimit = (text: string): string[] => [...text.matchAll(/\b(LIMIT|OFFSET)\s+(\?|[@:$]\w+)/g)].map((m) => m[0]);

t.test('no LIMIT or OFFSET is a bare parameter', async (t) => {
  t.same(bareLimit("'SELECT id FROM t ORDER BY id LIMIT ? OFFSET @skip'"), ['LIMIT ?', 'OFFSET @skip'], 'the check finds them');
  t.same(bareLimit("'LIMIT CAST(? AS bigint) OFFSET CAST(@skip AS bigint) LIMIT 1'"), []);
  const found: string[] = [];
  for (const f of ROOTS.flatMap((r) => sources(r))) for (const hit of bareLimit(fs.readFileSync(path.join(REPO, f), 'utf8'))) found.push(`${f}: ${hit}`);
  t.same(found, [], 'write it CAST(? AS bigint)');
});
