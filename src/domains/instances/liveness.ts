import type { Logger } from '../../log.js';
import type { InstanceService, Summary } from './service.js';

/**
 * Liveness monitor (SPEC §2.6, §6): every interval, active instances unseen for the timeout
 * become stale. Their `agent.stale` events, and the release of their leases and claimed tasks
 * (SPEC §8.8), are stored by the writer in the same transaction and fanned out by the service.
 */
export class LivenessMonitor {
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly instances: InstanceService,
    private readonly opts: { intervalMs: number; timeoutMs: number; log: Logger },
  ) {}

  async check(): Promise<Summary[]> {
    const stale = await this.instances.markStale(Date.now() - this.opts.timeoutMs);
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
