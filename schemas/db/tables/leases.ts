import type { Table } from '../table.js';

/** Leases on path globs. 0 = no TTL; else expires_ms (epoch ms) = last renewal + ttl_ms. */
export const LEASES: Table = {
  name: 'leases',
  columns: {
    id: { type: 'text', primaryKey: true },
    holder: { type: 'text' },
    holder_name: { type: 'text' },
    resources: { type: 'text' },
    exclusive: { type: 'int' },
    reason: { type: 'text', default: "''" },
    ttl_ms: { type: 'int', default: 0 },
    acquired_at: { type: 'text' },
    expires_ms: { type: 'int', default: 0 },
    /** Its fencing token: the id of its `lease.acquired` event, so a later holder always has a larger one. */
    fence: { type: 'int', default: 0, afterSeq: true },
    /**
     * 1: taken by an edit hook (auto-lease): its TTL is an idle lifetime, renewed by its
     * holder's edits of the file, not by the holder's heartbeats.
     */
    auto: { type: 'int', default: 0, afterSeq: true },
    /**
     * The project (a repository) its paths are relative to: leases conflict only within
     * one; '' for a holder that has none. Its resources' index keys start with it (leaseKey).
     */
    project: { type: 'text', default: "''", afterSeq: true },
  },
  seq: 'unique',
  indexes: [
    { name: 'leases_holder', on: 'holder', pgOn: 'holder, seq' },
    { name: 'leases_expiry', on: 'expires_ms', pgOn: 'expires_ms, seq', where: 'expires_ms > 0' },
    { name: 'leases_project', on: 'project', pgOn: 'project, seq' },
  ],
};

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
