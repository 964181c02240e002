import type { Table } from '../table.js';

/** Templates. */
export const TEMPLATES: Table = {
  name: 'templates',
  columns: {
    id: { type: 'text', primaryKey: true },
    name: { type: 'text' },
    description: { type: 'text', default: "''" },
    kind: { type: 'text', default: "'rules'" },
    data: { type: 'text' },
    tags: { type: 'text', default: "'[]'" },
    version: { type: 'int', default: 1 },
    created_at: { type: 'text' },
    updated_at: { type: 'text' },
  },
  seq: 'plain',
};
