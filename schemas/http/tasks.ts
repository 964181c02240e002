import { Type, type Static } from '../typebox.js';
import { CHECKPOINT, TASK } from '../db/tables/tasks.js';
import { Lease } from './leases.js';

export type { TaskStatus } from '../db/tables/tasks.js';

/** POST /api/tasks: the task's input fields (schemas/db/tables/tasks.ts). */
export const TaskBody = TASK.Body;

/** POST /api/tasks/{id}/checkpoint: what the claimer has done, what comes next, any JSON (the checkpoint's inputs). */
export const CheckpointBody = Type.Object({
  ...CHECKPOINT.Body.properties,
  /** The claim's fencing token: an outdated one is refused with 409. */
  fence: Type.Optional(Type.Integer({ minimum: 0 })),
});

/** POST /api/tasks/claim. */
export const ClaimBody = Type.Object({ project: Type.Optional(Type.String()) });

/** POST /api/tasks/{id}/complete|fail|release (body optional); `retry: false` fails for good. */
export const SettleBody = Type.Object({
  reason: Type.Optional(Type.String()),
  retry: Type.Optional(Type.Boolean()),
  /** The claim's fencing token: an outdated one is refused with 409. */
  fence: Type.Optional(Type.Integer({ minimum: 0 })),
});

/** A task: every task route's reply, each element of GET /api/tasks. `data` is any JSON. */
export const Task = TASK.Wire;

export type Task = Static<typeof Task>;

export const TaskListReply = Type.Array(Task);

/** A checkpoint of a task: `by` the claimer that recorded it; `data` any JSON. */
export const Checkpoint = CHECKPOINT.Wire;

export type Checkpoint = Static<typeof Checkpoint>;

/** GET /api/tasks/{id}/checkpoints: oldest first. */
export const CheckpointListReply = Type.Array(Checkpoint);

/**
 * POST /api/tasks/claim: the task, the lease the claim took on its paths (null for a
 * task without paths: a client tells a server that ignored `paths` by its absence), and the last
 * checkpoint an earlier claimer recorded (null when none), so a replacement continues.
 */
export const ClaimReply = Type.Object({ ...Task.properties, lease: Type.Union([Lease, Type.Null()]), checkpoint: Type.Union([Checkpoint, Type.Null()]) });
