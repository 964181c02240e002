import type { AuditTag, IdemTag } from '../../../schemas/rpc/envelope.js';
import type { CheckpointRow, LeaseRow, TaskRow } from '../../../schemas/rpc/writer.js';
import { CHECKPOINT, TASK, type CheckpointCreate, type TaskCreate } from '../../../schemas/db/tables/tasks.js';
import { fail } from '../../errors.js';
import { checkName } from '../../names.js';
import { CHECKPOINT_DATA_MAX_BYTES, CHECKPOINT_TEXT_MAX_BYTES, LEASE_MAX_RESOURCES, TASK_CHECKPOINTS_KEEP, TASK_MAX_CAPABILITIES, TASK_MAX_DEPS } from '../../shared/limits-features.js';
import { checkResource } from '../leases/service.js';
import { LEASE } from '../../../schemas/db/tables/leases.js';
import type { WriterClient } from '../../rpc/writer-client.js';
import type { TaskFilter, TaskReader } from './reader.js';
import { defined } from '../../shared/defined.js';
import { withMembers } from '../../raw-json.js';

/** The claim reply: the Task JSON with the lease the claim took and the last checkpoint. */
function claimJson(t: TaskRow, lease: LeaseRow | null, checkpoint: CheckpointRow | null): string {
  return withMembers(TASK.json(t), `"lease":${lease === null ? 'null' : LEASE.json(lease)},"checkpoint":${checkpoint === null ? 'null' : CHECKPOINT.json(checkpoint)}`);
}



export type { TaskFilter } from './reader.js';

/** A write's reply as JSON text, and whether it was an idempotent retry answered with the first write's result. */
export interface Written {
  json: string;
  replayed: boolean;
}

/** A task id from a path: a positive integer, else the task does not exist. */
export function taskId(raw: string): number {
  if (!/^[1-9]\d{0,14}$/.test(raw)) throw fail('TASK_NOT_FOUND', raw);
  return Number(raw);
}

/**
 * Task queues per project. Every change is one writer method, decided inside its
 * transaction (a claim picks and takes a task in one step, so each is claimed exactly once);
 * lists and gets read the read connection.
 */
export class TaskService {
  constructor(
    private readonly reader: TaskReader,
    private readonly writer: WriterClient,
  ) {}

  /** A new task (its input fields: schemas/db/tables/tasks.ts), bounded and checked here. */
  async create(t: TaskCreate, audit: AuditTag, idem: IdemTag | null = null): Promise<Written> {
    checkName(t.project, 'project');
    checkName(t.title, 'title');
    if (t.deps.length > TASK_MAX_DEPS) throw fail('TOO_MANY', 'deps', t.deps.length, TASK_MAX_DEPS);
    if (t.capabilities.length > TASK_MAX_CAPABILITIES) throw fail('TOO_MANY', 'capabilities', t.capabilities.length, TASK_MAX_CAPABILITIES);
    for (const c of t.capabilities) checkName(c, 'capability');
    if (t.paths.length > LEASE_MAX_RESOURCES) throw fail('TOO_MANY', 'paths', t.paths.length, LEASE_MAX_RESOURCES);
    t.paths.forEach((p, i) => checkResource(p, `paths[${i}]: `));
    return this.written(await this.writer.callIdempotent('tasks.create', t, idem, { audit }));
  }

  async claim(holder: string, project: string, audit: AuditTag, idem: IdemTag | null = null): Promise<Written> {
    checkName(project, 'project');
    const { res, replayed } = await this.writer.callIdempotent('tasks.claim', { project, holder }, idem, { audit });
    if ('none' in res) throw res.none.ready === 0 ? fail('NO_TASK_READY', project) : fail('NO_TASK_FREE', project, res.none.ready, res.none.blocker);
    return { json: claimJson(res.task, res.lease, res.checkpoint), replayed };
  }

  /** The claimer's progress: bounded, by the claimer (and its claim's fence, if given). */
  async checkpoint(holder: string, id: number, c: CheckpointCreate, fence?: number, idem: IdemTag | null = null): Promise<Written> {
    for (const [name, text] of [['done', c.done], ['next', c.next]] as const) {
      const bytes = Buffer.byteLength(text);
      if (bytes > CHECKPOINT_TEXT_MAX_BYTES) throw fail('NAME_TOO_LONG', name, bytes, CHECKPOINT_TEXT_MAX_BYTES);
    }
    const bytes = Buffer.byteLength(c.data);
    if (bytes > CHECKPOINT_DATA_MAX_BYTES) throw fail('NAME_TOO_LONG', 'data', bytes, CHECKPOINT_DATA_MAX_BYTES);
    const { res, replayed } = await this.writer.callIdempotent(
      'tasks.checkpoint',
      { id, holder, ...c, keep: TASK_CHECKPOINTS_KEEP, ...defined({ fence }) },
      idem,
    );
    return { json: CHECKPOINT.json(res.checkpoint), replayed };
  }

  /** A task's checkpoints, oldest first (the newest TASK_CHECKPOINTS_KEEP). */
  async checkpoints(id: number): Promise<string[]> {
    if (!(await this.reader.get(id))) throw fail('TASK_NOT_FOUND', id);
    return (await this.reader.checkpoints(id)).map(CHECKPOINT.json);
  }

  /** complete / fail / release, by the claimer. */
  async settle(how: 'complete' | 'fail' | 'release', holder: string, id: number, reason: string, retry: boolean, audit: AuditTag, fence?: number, idem: IdemTag | null = null): Promise<Written> {
    checkName(reason, 'reason');
    return this.written(await this.writer.callIdempotent(`tasks.${how}`, { id, holder, reason, retry, ...defined({ fence }) }, idem, { audit }));
  }

  /** A task write's reply. */
  private written(w: { res: { task: TaskRow }; replayed: boolean }): Written {
    return { json: TASK.json(w.res.task), replayed: w.replayed };
  }

  async get(id: number): Promise<string> {
    const r = await this.reader.get(id);
    if (!r) throw fail('TASK_NOT_FOUND', id);
    return TASK.json(TASK.decode(r));
  }

  /** Tasks by id; `after` = the last id of the previous page. */
  async list(f: TaskFilter): Promise<string[]> {
    return (await this.reader.list(f)).map((r) => TASK.json(TASK.decode(r)));
  }
}
