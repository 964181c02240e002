import type { Domain, Platform } from '../domain.js';
import { taskRoutes, type BudgetGate } from './routes.js';
import { TaskService } from './service.js';

/** Task queues per project. */
export function tasksDomain(p: Platform, d: { budgetRefusing?: BudgetGate }): Domain {
  return { routes: taskRoutes(new TaskService(p.readers.tasks, p.writer), d.budgetRefusing ?? (() => null)) };
}
