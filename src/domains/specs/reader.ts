import type { Awaitable } from '../../shared/awaitable.js';
import type { Reads } from '../../backend/reads.js';
import { sql } from '../../../schemas/db/sql.js';
import { SPEC_DOC } from '../../../schemas/db/tables/specs.js';
import type { Static } from '../../../schemas/typebox.js';

type Spec = Static<typeof SPEC_DOC.Row>;
export type SpecRow = Pick<Spec, 'data' | 'version' | 'hash' | 'revision'>;
type SpecListRow = Pick<Spec, 'name' | 'version' | 'updated_at'>;

/** Read-only queries of the spec registry; SQLite answers at once, PostgreSQL with a promise. */
export interface SpecsReader {
  /** A project's specs by name. */
  list(project: string): Awaitable<SpecListRow[]>;
  get(project: string, name: string): Awaitable<SpecRow | undefined>;
}

const LIST = sql('SELECT name, version, updated_at FROM specs WHERE project = ? ORDER BY name');
const GET = sql('SELECT data, version, hash, revision FROM specs WHERE project = ? AND name = ?');

/** The spec registry's reads, on either backend. */
export function specsReader(db: Reads): SpecsReader {
  const list = db.statement<SpecListRow>(LIST);
  const get = db.statement<SpecRow>(GET);
  return {
    list: (project) => list.all(project),
    get: (project, name) => get.get(project, name),
  };
}
