import type { AuditTag } from '../../../schemas/rpc/envelope.js';
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

  async create(t: NewTask, audit: AuditTag): Promise<string> {
    checkName(t.project, 'project');
    checkName(t.title, 'title');
    if (t.deps.length > TASK_MAX_DEPS) throw fail('TOO_MANY', 'deps', t.deps.length, TASK_MAX_DEPS);
    if (t.capabilities.length > TASK_MAX_CAPABILITIES) throw fail('TOO_MANY', 'capabilities', t.capabilities.length, TASK_MAX_CAPABILITIES);
    for (const c of t.capabilities) checkName(c, 'capability');
    const r = await this.writer.call(
      'tasks.create',
      { project: t.project, title: t.title, data: t.data, priority: t.priority, deps: t.deps, capabilities: t.capabilities, max_attempts: t.maxAttempts },
      { audit },
    );
    this.announce(r.events);
    return taskJson(r.task);
  }

  async claim(holder: string, project: string, audit: AuditTag): Promise<string> {
    checkName(project, 'project');
    const r = await this.writer.call('tasks.claim', { project, holder }, { audit });
    this.announce(r.events);
    return taskJson(r.task);
  }

  /** complete / fail / release, by the claimer. */
  async settle(how: 'complete' | 'fail' | 'release', holder: string, id: number, reason: string, retry: boolean, audit: AuditTag, fence?: number): Promise<string> {
    checkName(reason, 'reason');
    const r = await this.writer.call(`tasks.${how}`, { id, holder, reason, retry, ...(fence === undefined ? {} : { fence }) }, { audit });
    this.announce(r.events);
    return taskJson(r.task);
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
