import type { Logger } from '../../log.js';
import type { InstanceService, Summary } from './service.js';

/** Publishes an event through the bus (wired to the events domain in main). */
export type Publish = (topic: string, data: string, source: string) => Promise<unknown>;

/**
 * Liveness monitor (SPEC §2.6, §6): every interval, active instances unseen for the timeout
 * become stale and one `agent.stale` event is published for each.
 */
export class LivenessMonitor {
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly instances: InstanceService,
    private readonly publish: Publish,
    private readonly opts: { intervalMs: number; timeoutMs: number; log: Logger },
  ) {}

  async check(): Promise<Summary[]> {
    const stale = await this.instances.markStale(Date.now() - this.opts.timeoutMs);
    for (const i of stale) {
      const data = JSON.stringify({ instance_id: i.id, name: i.name, workspace: i.workspace, stack: i.stack, last_seen: i.last_seen });
      // The instance is already stale: one failed publish must not cost the others theirs.
      await this.publish('agent.stale', data, 'liveness-monitor').catch((err: unknown) => this.opts.log.warn({ err, instance: i.id }, 'agent.stale publish failed'));
    }
    if (stale.length > 0) this.opts.log.info({ count: stale.length }, 'instances went stale');
    return stale;
  }

  start(): void {
    this.timer = setInterval(() => {
      this.check().catch((err: unknown) => this.opts.log.warn({ err }, 'liveness check failed'));
    }, this.opts.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
