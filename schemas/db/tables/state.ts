import type { Table } from '../table.js';

/** The state store (SPEC §2.2): the current value of each key, and its archived versions. */
export const STATE: Table = {
  name: 'state',
  columns: {
    key: { type: 'text', primaryKey: true },
    value: { type: 'blob' },
    version: { type: 'int' },
    hash: { type: 'text' },
    content_type: { type: 'text' },
    updated_at: { type: 'text' },
    updated_by: { type: 'text', default: "''" },
  },
};

export const STATE_HISTORY: Table = {
  name: 'state_history',
  columns: {
    key: { type: 'text' },
    version: { type: 'int' },
    value: { type: 'blob' },
    hash: { type: 'text' },
    content_type: { type: 'text' },
    updated_at: { type: 'text' },
    updated_by: { type: 'text', default: "''" },
  },
  primaryKey: ['key', 'version'],
};

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
  },
  primaryKey: ['project', 'name'],
};
