import { Type } from '../../typebox.js';
import { f, hidden, named, record } from '../record.js';
import type { Table } from '../table.js';

/**
 * A lease on path globs. Its TTL: 0 = none; else `expires_ms` (epoch ms, `expires_at` in
 * replies, "" without one) = last renewal + ttl_ms. Its reply is every lease route's, each
 * element of a list and of a conflict's `conflicts`.
 */
export const LEASE = record(
  'leases',
  {
    id: f.text({ primaryKey: true }),
    holder: f.text(),
    holder_name: f.text(),
    resources: f.list(Type.String(), { default: undefined }),
    exclusive: f.bool(),
    reason: f.text({ default: "''" }),
    ttl_ms: hidden(f.int({ default: 0 })),
    acquired_at: f.time(),
    expires_ms: named('expires_at', f.ms()),
    /** Its fencing token: the id of its `lease.acquired` event, so a later holder always has a larger one. */
    fence: f.int({ default: 0, afterSeq: true }),
    /**
     * Taken by an edit hook (auto-lease): its TTL is an idle lifetime, renewed by its
     * holder's edits of the file, not by the holder's heartbeats.
     */
    auto: hidden(f.bool({ default: 0, afterSeq: true })),
    /**
     * The project (a repository) its paths are relative to: leases conflict only within
     * one; '' for a holder that has none. Its resources' index keys start with it (leaseKey).
     */
    project: f.text({ default: "''", afterSeq: true }),
  },
  {
    seq: 'unique',
    indexes: [
      { name: 'leases_holder', on: 'holder', pgOn: 'holder, seq' },
      { name: 'leases_expiry', on: 'expires_ms', pgOn: 'expires_ms, seq', where: 'expires_ms > 0' },
      { name: 'leases_project', on: 'project', pgOn: 'project, seq' },
    ],
  },
);
export const LEASES = LEASE.table;

/**
 * A lease's resources keyed by their project and literal prefix (leaseKey: the project's UTF-8
 * bytes, a NUL, the bytes before the first wildcard): two globs of one project can only overlap
 * when one prefix starts the other, so a conflict check seeks the few candidate rows of its own
 * project instead of comparing them all.
 */
export const LEASE_RESOURCES: Table = {
  name: 'lease_resources',
  columns: {
    prefix: { type: 'blob' },
    lease_id: { type: 'text', references: 'leases (id)' },
    resource: { type: 'text' },
  },
  primaryKey: ['prefix', 'lease_id', 'resource'],
  withoutRowid: true,
  indexes: [{ name: 'lease_resources_lease', on: 'lease_id' }],
};
