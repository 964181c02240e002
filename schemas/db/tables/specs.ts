import { f, hidden, record } from '../record.js';

/**
 * The spec registry: a project's named blobs, one version each (no history), written with
 * compare-and-set. Its reply is a write's; a spec's bytes are only ever sent as they are.
 */
export const SPEC_DOC = record(
  'specs',
  {
    project: f.text(),
    name: f.text(),
    data: hidden(f.bytes()),
    version: f.int(),
    hash: f.text(),
    updated_at: f.time(),
    /** The store-wide revision of the spec's last write. */
    revision: f.int({ default: 0 }),
  },
  { primaryKey: ['project', 'name'] },
);
export const SPECS = SPEC_DOC.table;
