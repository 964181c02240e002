import { sortedJson, type AuditTag, type IdemTag } from '../../../schemas/rpc/envelope.js';
import { Compile, type Static } from '../../../schemas/typebox.js';
import { RuleArray, type RuleInput } from '../../../schemas/http/rules.js';
import { fail } from '../../errors.js';
import { compactJson } from '../../raw-json.js';
import { checkName } from '../../names.js';
import type { WriterClient } from '../../rpc/writer-client.js';
import { TEMPLATE, TEMPLATE_SUMMARY } from '../../../schemas/db/tables/templates.js';
import type { TemplateSummary } from '../../../schemas/http/templates.js';
import type { TemplateDbRow, TemplateFilter, TemplatesReader } from './reader.js';

/**
 * What applying a template needs from other domains, wired in server.ts (a domain never imports
 * another): the rules import and the spec registry's put.
 */
export interface TemplateDeps {
  /** Upserts accepted rules with `project` forced; 400 for an invalid regex or glob, nothing stored. */
  importRules(rules: RuleInput[], opts: { project: string; audit?: AuditTag }): Promise<{ imported: number }>;
  putSpec(project: string, name: string, data: Uint8Array, audit?: AuditTag): Promise<unknown>;
}

/** A new template: `data` the raw JSON text the client sent. */
export type TemplateInput = Omit<Static<typeof TEMPLATE.Row>, 'version' | 'created_at' | 'updated_at'>;

const isRuleArray = Compile(RuleArray);

/** The Template JSON text, `data` the JSON value it was created with, its number text and member order untouched (whitespace removed). */
const templateText = (r: Static<typeof TEMPLATE.Row>): string => TEMPLATE.json({ ...r, data: compactJson(r.data) });

/** Template registry (`data` any JSON value, kept as sent): writes through the writer, reads here. */
export class TemplateService {
  constructor(
    private readonly reader: TemplatesReader,
    private readonly writer: WriterClient,
    private readonly deps: TemplateDeps,
  ) {}

  /** Summaries, newest first, `kind` and `tag` (an exact member of tags) optional. */
  async list(filter: TemplateFilter): Promise<TemplateSummary[]> {
    return (await this.reader.list(filter)).map((r) => TEMPLATE_SUMMARY.wire(TEMPLATE_SUMMARY.decode(r)));
  }

  private async row(id: string): Promise<TemplateDbRow> {
    const row = await this.reader.get(id);
    if (!row) throw fail('TEMPLATE_NOT_FOUND', id);
    return row;
  }

  /** The Template JSON text. */
  async get(id: string): Promise<string> {
    return templateText(TEMPLATE.decode(await this.row(id)));
  }

  /** Stores a new template; returns its Template JSON text. A duplicate id → 409; `replayed`: an idempotent retry answered with the first write's result. */
  async create(t: TemplateInput, audit?: AuditTag, idem: IdemTag | null = null): Promise<{ json: string; replayed: boolean }> {
    checkName(t.id, 'id');
    const { res: r, replayed } = await this.writer.callIdempotent('templates.create', t, idem, audit ? { audit } : undefined);
    return { json: templateText({ ...t, version: r.version, created_at: r.created_at, updated_at: r.updated_at }), replayed };
  }

  async delete(id: string, audit?: AuditTag): Promise<{ deleted: string }> {
    await this.writer.call('templates.delete', { id }, { audit });
    return { deleted: id };
  }

  /**
   * Applies a template to `project`: a `rules` template imports its rules with the project forced
   * (an invalid pattern is a 400 and nothing is stored); any other kind is stored as
   * the spec `<project>/<template id>`, its bytes as the template was created.
   */
  async apply(id: string, project: string, by?: AuditTag): Promise<{ applied: string; project: string; kind: string }> {
    checkName(project, 'project');
    const t = await this.row(id);
    // One entry for the whole apply, recorded with the write it makes.
    const audit: AuditTag | undefined = by && { actor: by.actor, action: 'template.apply', resource: id, detail: sortedJson({ kind: t.kind, project }) };
    if (t.kind === 'rules') {
      let rules: unknown;
      try {
        rules = JSON.parse(t.data);
      } catch {
        rules = undefined;
      }
      if (!isRuleArray.Check(rules)) throw fail('TEMPLATE_DATA_INVALID');
      await this.deps.importRules(rules, { project, audit });
    } else {
      await this.deps.putSpec(project, id, Buffer.from(t.data), audit);
    }
    return { applied: id, project, kind: t.kind };
  }
}
