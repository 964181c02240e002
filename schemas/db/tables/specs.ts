import type { Table } from '../table.js';

/** The spec registry. */
export const SPECS: Table = {
  name: 'specs',
  columns: {
    project: { type: 'text' },
    name: { type: 'text' },
    data: { type: 'blob' },
    version: { type: 'int' },
    hash: { type: 'text' },
    updated_at: { type: 'text' },
    /** The store-wide revision of the spec's last write. */
    revision: { type: 'int', default: 0 },
  },
  primaryKey: ['project', 'name'],
};
