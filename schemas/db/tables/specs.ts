import type { Table } from '../table.js';

/** The spec registry (SPEC §2.3). */
export const SPECS: Table = {
  name: 'specs',
  columns: {
    project: { type: 'text' },
    name: { type: 'text' },
    data: { type: 'blob' },
    version: { type: 'int' },
    hash: { type: 'text' },
    updated_at: { type: 'text' },
    /** The store-wide revision of the spec's last write (issue 31). */
    revision: { type: 'int', default: 0 },
  },
  primaryKey: ['project', 'name'],
};
