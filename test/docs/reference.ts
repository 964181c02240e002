import fs from 'node:fs';
import type ts from 'typescript';
import { COMMANDS } from '../../cli/registry.js';
import { ERRORS } from '../../schemas/error-catalogue.js';
import { COMMAND_FLAGS, SETTINGS } from '../../src/config.js';
import { HTTP_STATUS } from '../../src/errors.js';
import { repoPath } from '../helpers/paths.js';

/**
 * The reference parts of docs/, made from the code: every server setting (src/config.ts SETTINGS),
 * every error (schemas/error-catalogue.ts), every CLI command (cli/registry.ts and each command's
 * definition) and every API route (the OpenAPI document the server serves). Each sits in a page
 * between `<!-- generated:NAME -->` and `<!-- /generated:NAME -->`; test/docs/reference.test.ts
 * fails when one is not what the code makes, and rewrites them when run with KOOR_WRITE_DOCS=1
 * (`npm run docs`).
 */

/** A table cell: one line, pipes escaped. */
const cell = (s: string): string => s.replace(/\r?\n\s*/g, ' ').replace(/\|/g, '\\|');
const code = (s: string): string => (s === '' ? '`""`' : `\`${s.replace(/`/g, "'")}\``);

export function settingsTable(): string {
  const rows = SETTINGS.map((s) => `| ${code(s.file)} | ${code(`--${s.flag}`)} | ${code(s.env)} | ${code(s.def)} | ${cell(s.help)} |`);
  const flags = COMMAND_FLAGS.map((f) => `| ${code(`--${f.flag}`)} | ${cell(f.help)} |`);
  return [
    `${SETTINGS.length} settings. Each is a flag, an environment variable and a key of the settings file; a flag beats the environment, which beats the file, which beats the default.`,
    '',
    '| settings.json key | flag | environment | default | meaning |',
    '|---|---|---|---|---|',
    ...rows,
    '',
    'Flags with no environment variable or settings key:',
    '',
    '| flag | meaning |',
    '|---|---|',
    ...flags,
  ].join('\n');
}

interface CatalogueEntry {
  key: string;
  status: string;
  params: { name: string; array: boolean }[];
  doc: string;
  section: string;
}

/** The catalogue's source, read for what the runtime object does not keep: sections, doc comments, parameter names. */
async function catalogueSource(): Promise<CatalogueEntry[]> {
  const tsm = (await import('typescript')).default;
  const file = repoPath('schemas', 'error-catalogue.ts');
  const text = fs.readFileSync(file, 'utf8');
  const sf = tsm.createSourceFile(file, text, tsm.ScriptTarget.ES2022, true);
  const out: CatalogueEntry[] = [];
  const helpers = new Map<string, ts.ArrowFunction>();
  let errors: ts.ObjectLiteralExpression | undefined;
  sf.forEachChild((n) => {
    if (!tsm.isVariableStatement(n)) return;
    for (const d of n.declarationList.declarations) {
      if (!tsm.isIdentifier(d.name) || d.initializer === undefined) continue;
      const init = tsm.isAsExpression(d.initializer) || tsm.isSatisfiesExpression(d.initializer) ? d.initializer.expression : d.initializer;
      if (d.name.text === 'ERRORS' && tsm.isObjectLiteralExpression(init)) errors = init;
      else if (tsm.isArrowFunction(d.initializer)) helpers.set(d.name.text, d.initializer);
    }
  });
  if (errors === undefined) throw new Error('ERRORS not found in schemas/error-catalogue.ts');
  let section = '';
  for (const p of errors.properties) {
    if (!tsm.isPropertyAssignment(p) || !tsm.isIdentifier(p.name) || !tsm.isCallExpression(p.initializer)) continue;
    const leading = text.slice(p.getFullStart(), p.getStart());
    const heading = [...leading.matchAll(/\/\/ ── (.+?) ──/g)].pop();
    if (heading) section = heading[1]!;
    const docs = [...leading.matchAll(/\/\*\*([\s\S]*?)\*\//g)].map((m) =>
      m[1]!
        .split('\n')
        .map((l) => l.replace(/^\s*\*\s?/, '').trim())
        .join(' ')
        .trim(),
    );
    const [statusArg, messageArg] = p.initializer.arguments;
    const fn = messageArg && tsm.isArrowFunction(messageArg) ? messageArg : messageArg && tsm.isIdentifier(messageArg) ? helpers.get(messageArg.text) : undefined;
    if (!statusArg || !tsm.isStringLiteral(statusArg) || fn === undefined) throw new Error(`${p.name.text}: not def('STATUS', (…) => …)`);
    out.push({
      key: p.name.text,
      status: statusArg.text,
      params: fn.parameters.map((q) => ({ name: q.name.getText(sf), array: q.type !== undefined && /\[\]/.test(q.type.getText(sf)) })),
      doc: docs.join(' '),
      section,
    });
  }
  return out;
}

export async function errorsTable(): Promise<string> {
  const entries = await catalogueSource();
  const runtime = ERRORS as unknown as Record<string, { status: string; message: (...a: unknown[]) => string }>;
  const missing = Object.keys(runtime).filter((k) => !entries.some((e) => e.key === k));
  if (missing.length > 0) throw new Error(`catalogue entries the source reader did not find: ${missing.join(', ')}`);
  const lines: string[] = [];
  let section: string | undefined;
  for (const e of entries) {
    if (e.section !== section) {
      section = e.section;
      lines.push('', `### ${section}`, '', '| code | HTTP | message | when |', '|---|---|---|---|');
    }
    const message = runtime[e.key]!.message(...e.params.map((p) => (p.array ? [`<${p.name}>`] : `<${p.name.replace(/\s*=.*$/, '')}>`)));
    lines.push(`| ${code(e.key)} | ${HTTP_STATUS[e.status as keyof typeof HTTP_STATUS]} ${e.status} | ${code(cell(message))} | ${cell(e.doc)} |`);
  }
  return [`${entries.length} errors. Every error reply is \`{"error": "<message>", "code": <HTTP status>}\`; the code below names the message in the server's source, not on the wire. \`<name>\` marks what the message fills in.`, ...lines].join('\n');
}

interface CommandDoc {
  description: string;
  details?: string;
  examples?: ReadonlyArray<readonly [string, string]>;
  positionals: readonly { name: string; optional?: boolean }[];
  options: Record<string, { description: string; boolean?: boolean; required?: boolean }>;
}

export async function cliReference(): Promise<string> {
  const out: string[] = [`${Object.keys(COMMANDS).length} commands.`];
  let group = '';
  for (const [name, load] of Object.entries(COMMANDS)) {
    const def = ((await load()) as { default: CommandDoc }).default;
    const first = name.split(' ')[0]!;
    if (name.includes(' ') && first !== group) group = first;
    const pos = def.positionals.map((p) => (p.optional ? `[${p.name}]` : `<${p.name}>`)).join(' ');
    out.push('', `### \`koor-cli ${name}${pos === '' ? '' : ` ${pos}`}\``, '', def.description.endsWith('.') ? def.description : `${def.description}.`);
    if (def.details) out.push('', def.details.replace(/\n(?!\n)/g, ' ').trim());
    const opts = Object.entries(def.options);
    if (opts.length > 0) {
      out.push('');
      for (const [o, spec] of opts) out.push(`- \`--${o}${spec.boolean ? '' : ' <value>'}\`${spec.required ? ' (required)' : ''}: ${cell(spec.description)}`);
    }
    for (const [what, line] of def.examples ?? []) out.push('', `${what}:`, '', '```sh', line.replace(/\$0/g, 'koor-cli'), '```');
  }
  return out.join('\n');
}

type OpenApi = { paths: Record<string, Record<string, { summary?: string; tags?: string[]; 'x-koor-websocket'?: boolean; security?: unknown[] }>> };

export function apiTable(doc: OpenApi): string {
  const byTag = new Map<string, string[]>();
  let count = 0;
  for (const [p, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      if (!['get', 'put', 'post', 'delete', 'patch'].includes(method)) continue;
      count++;
      const tag = op.tags?.[0] ?? 'other';
      const verb = op['x-koor-websocket'] ? 'WS' : method.toUpperCase();
      const open = Array.isArray(op.security) && op.security.length === 0 ? ' (no token)' : '';
      (byTag.get(tag) ?? byTag.set(tag, []).get(tag)!).push(`| ${verb} | \`${p}\` | ${cell(op.summary ?? '')}${open} |`);
    }
  }
  const out = [`${count} routes. \`koor-cli openapi\` prints the whole document (parameters, bodies and replies); the server serves it at \`GET /api/openapi.json\`.`];
  for (const [tag, rows] of [...byTag].sort((a, b) => a[0].localeCompare(b[0]))) out.push('', `### ${tag}`, '', '| method | path | what |', '|---|---|---|', ...rows);
  return out.join('\n');
}

/** The generated blocks of one page: name → where its body lies (between the marker lines) and the body. */
export function generatedBlocks(text: string): Map<string, { start: number; end: number; body: string }> {
  const out = new Map<string, { start: number; end: number; body: string }>();
  const re = /<!-- generated:([a-z-]+) [^>]*-->\n([\s\S]*?)<!-- \/generated:\1 -->/g;
  for (const m of text.matchAll(re)) {
    const start = m.index + m[0].indexOf('\n') + 1;
    out.set(m[1]!, { start, end: start + m[2]!.length, body: m[2]!.replace(/\n$/, '') });
  }
  return out;
}

/** The page with its block `name` replaced by `body`. */
export function withBlock(text: string, name: string, body: string): string {
  const b = generatedBlocks(text).get(name);
  if (b === undefined) throw new Error(`no generated:${name} block`);
  return `${text.slice(0, b.start)}${body}\n${text.slice(b.end)}`;
}
