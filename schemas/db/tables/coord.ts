import type { Table } from '../table.js';

/** Leases on path globs (SPEC §8.8). 0 = no TTL; else expires_ms (epoch ms) = last renewal + ttl_ms. */
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
    /** Its fencing token (issue 31): the id of its `lease.acquired` event, so a later holder always has a larger one. */
    fence: { type: 'int', default: 0, afterSeq: true },
    /**
     * 1: taken by an edit hook (auto-lease, issue 44): its TTL is an idle lifetime, renewed by its
     * holder's edits of the file, not by the holder's heartbeats.
     */
    auto: { type: 'int', default: 0, afterSeq: true },
  },
  seq: 'unique',
  indexes: [
    { name: 'leases_holder', on: 'holder', pgOn: 'holder, seq' },
    { name: 'leases_expiry', on: 'expires_ms', pgOn: 'expires_ms, seq', where: 'expires_ms > 0' },
  ],
};

/**
 * A lease's resources keyed by their literal prefix (the UTF-8 bytes before the first wildcard):
 * two globs can only overlap when one prefix starts the other, so a conflict check seeks the few
 * candidate rows instead of comparing them all.
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

/** Task queues per project (SPEC §8.8); ids as AUTOINCREMENT hands them out (a rolled-back create gives its id back). */
export const TASKS: Table = {
  name: 'tasks',
  columns: {
    id: { type: 'int', id: 'counter' },
    project: { type: 'text' },
    title: { type: 'text' },
    data: { type: 'text', default: "'null'" },
    priority: { type: 'int', default: 0 },
    deps: { type: 'text', default: "'[]'" },
    capabilities: { type: 'text', default: "'[]'" },
    status: { type: 'text' },
    claimed_by: { type: 'text', default: "''" },
    claimed_by_name: { type: 'text', default: "''" },
    attempts: { type: 'int', default: 0 },
    max_attempts: { type: 'int' },
    reason: { type: 'text', default: "''" },
    created_at: { type: 'text' },
    updated_at: { type: 'text' },
    /** The fencing token of its current claim (issue 31): the id of its `task.claimed` event. */
    fence: { type: 'int', default: 0 },
    /** The path globs it will touch (issue 44), JSON text: a claim takes an exclusive lease on them. */
    paths: { type: 'text', default: "'[]'" },
    /** The lease its current claim took on `paths` ('' = none): ended with the claim. */
    lease_id: { type: 'text', default: "''" },
  },
  indexes: [
    // the claim order: best priority first, then oldest
    { name: 'tasks_queue', on: 'project, status, priority DESC, id' },
    { name: 'tasks_claimed', on: 'claimed_by', where: "status = 'claimed'" },
  ],
};

/**
 * What a task's claimers recorded of their progress (issue 44): `done`, `next` and `data` (JSON
 * text) per checkpoint, numbered per task; the newest TASK_CHECKPOINTS_KEEP of a task are kept.
 */
export const TASK_CHECKPOINTS: Table = {
  name: 'task_checkpoints',
  columns: {
    task_id: { type: 'int' },
    seq: { type: 'int' },
    done: { type: 'text' },
    next: { type: 'text' },
    data: { type: 'text', default: "'null'" },
    by_id: { type: 'text' },
    by_name: { type: 'text' },
    at: { type: 'text' },
  },
  primaryKey: ['task_id', 'seq'],
  withoutRowid: true,
};

export const TASK_DEPS: Table = {
  name: 'task_deps',
  columns: { dep_id: { type: 'int' }, task_id: { type: 'int' } },
  primaryKey: ['dep_id', 'task_id'],
  withoutRowid: true,
};
