import { Type, type Static } from '../../typebox.js';
import { f, hidden, input, record } from '../record.js';

/**
 * An agent instance: lifecycle pending → active ⇄ stale. Its reply is every GET of agents (no
 * token); its `input` fields are what POST /api/instances/register takes (absent: the column's
 * default; `name` is required by the route).
 */
export const INSTANCE = record(
  'instances',
  {
    id: f.text({ primaryKey: true }),
    name: input(f.text()),
    workspace: input(f.text({ default: "''" })),
    intent: input(f.text({ default: "''" })),
    stack: input(f.text({ default: "''" })),
    /** An extension of the original's registration: null or absent is []. */
    capabilities: input(f.list(Type.String()), Type.Union([Type.Array(Type.String()), Type.Null()])),
    /** `pending`, `active` or `stale`. */
    status: f.text({ default: "'pending'" }),
    /** SHA-256 of the instance's token, hex: the token is shown once, at registration. */
    token_hash: hidden(f.text()),
    registered_at: f.time(),
    last_seen: f.time(),
    /**
     * The created token that registered it ('' for the operator's and open mode's): that token may
     * act as it with X-Koor-Instance. `instance:<id>` when an agent's instance token
     * bound a coding-agent session to it (only that token drives the session's hooks).
     */
    token_id: hidden(f.text({ default: "''", afterSeq: true })),
    /** The project its workspace names (projectOf): who else works in a repository is found by it. */
    project: hidden(f.text({ default: "''", afterSeq: true })),
  },
  {
    seq: 'plain',
    indexes: [
      { name: 'instances_status', on: 'status, last_seen', pgOn: 'status, last_seen, seq' },
      { name: 'instances_project', on: 'project, status, last_seen' },
      { name: 'instances_token_hash', on: 'token_hash' },
    ],
  },
);
export const INSTANCES = INSTANCE.table;
/** What the writer is given to register an instance: its inputs, defaults applied. */
export type InstanceCreate = Static<typeof INSTANCE.Create>;
/** An instances row as the database returns it (`capabilities` JSON text). */
export type InstanceDbRow = Parameters<typeof INSTANCE.decode>[0];
