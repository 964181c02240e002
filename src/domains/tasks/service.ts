import type { AuditTag, IdemTag } from '../../../schemas/rpc/envelope.js';
import type { Event, TaskRow } from '../../../schemas/rpc/writer.js';
import { decodeTask as decode } from '../../../schemas/db/coord.js';
import { fail } from '../../errors.js';
import { checkName } from '../../http/path.js';
import { TASK_MAX_CAPABILITIES, TASK_MAX_DEPS } from '../../shared/limits.js';
import type { WriterClient } from '../../rpc/writer-client.js';
import { toRfc3339 } from '../../store.js';
import type { TaskFilter, TaskReader } from './reader.js';

export const TASK_STATUSES = ['ready', 'blocked', 'claimed', 'done', 'failed'] as const;

/** The Task JSON of SPEC §8.8, `data` spliced in as it was sent. */
export function taskJson(t: TaskRow): string {
  return (
    `{"id":${t.id},"project":${JSON.stringify(t.project)},"title":${JSON.stringify(t.title)},"data":${t.data},"priority":${t.priority},` +
    `"deps":${JSON.stringify(t.deps)},"capabilities":${JSON.stringify(t.capabilities)},"status":"${t.status}",` +
    `"claimed_by":${JSON.stringify(t.claimed_by)},"claimed_by_name":${JSON.stringify(t.claimed_by_name)},"attempts":${t.attempts},` +
    `"max_attempts":${t.max_attempts},"reason":${JSON.stringify(t.reason)},"created_at":"${toRfc3339(t.created_at)}","updated_at":"${toRfc3339(t.updated_at)}","fence":${t.fence}}`
  );
}


export interface NewTask {
  project: string;
  title: string;
  /** Raw JSON text. */
  data: string;
  priority: number;
  deps: number[];
  capabilities: string[];
  maxAttempts: number;
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
 * Task queues per project (SPEC §8.8). Every change is one writer method, decided inside its
 * transaction (a claim picks and takes a task in one step, so each is claimed exactly once);
 * lists and gets read the read connection.
 */
export class TaskService {
  constructor(
    private readonly reader: TaskReader,
    private readonly writer: WriterClient,
    private readonly announce: (events: readonly Event[]) => void,
  ) {}

  async create(t: NewTask, audit: AuditTag, idem: IdemTag | null = null): Promise<Written> {
    checkName(t.project, 'project');
    checkName(t.title, 'title');
    if (t.deps.length > TASK_MAX_DEPS) throw fail('TOO_MANY', 'deps', t.deps.length, TASK_MAX_DEPS);
    if (t.capabilities.length > TASK_MAX_CAPABILITIES) throw fail('TOO_MANY', 'capabilities', t.capabilities.length, TASK_MAX_CAPABILITIES);
    for (const c of t.capabilities) checkName(c, 'capability');
    const w = await this.writer.callIdempotent(
      'tasks.create',
      { project: t.project, title: t.title, data: t.data, priority: t.priority, deps: t.deps, capabilities: t.capabilities, max_attempts: t.maxAttempts },
      idem,
      { audit },
    );
    return this.written(w);
  }

  async claim(holder: string, project: string, audit: AuditTag, idem: IdemTag | null = null): Promise<Written> {
    checkName(project, 'project');
    return this.written(await this.writer.callIdempotent('tasks.claim', { project, holder }, idem, { audit }));
  }

  /** complete / fail / release, by the claimer. */
  async settle(how: 'complete' | 'fail' | 'release', holder: string, id: number, reason: string, retry: boolean, audit: AuditTag, fence?: number, idem: IdemTag | null = null): Promise<Written> {
    checkName(reason, 'reason');
    return this.written(await this.writer.callIdempotent(`tasks.${how}`, { id, holder, reason, retry, ...(fence === undefined ? {} : { fence }) }, idem, { audit }));
  }

  /** A task write's reply; its events go out once, with the first write (a replay's went out then). */
  private written(w: { res: { task: TaskRow; events: Event[] }; replayed: boolean }): Written {
    if (!w.replayed) this.announce(w.res.events);
    return { json: taskJson(w.res.task), replayed: w.replayed };
  }

  async get(id: number): Promise<string> {
    const r = await this.reader.get(id);
    if (!r) throw fail('TASK_NOT_FOUND', id);
    return taskJson(decode(r));
  }

  /** Tasks by id; `after` = the last id of the previous page. */
  async list(f: TaskFilter): Promise<string[]> {
    return (await this.reader.list(f)).map((r) => taskJson(decode(r)));
  }
}
