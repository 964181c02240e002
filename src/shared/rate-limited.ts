import type { Logger } from 'pino';

/**
 * Rate-limited warning: logs the first occurrence, then at most once per `intervalMs`,
 * carrying how many were suppressed in between.
 */
export function rateLimited(log: Logger, intervalMs = 10_000): (obj: Record<string, unknown>, msg: string) => void {
  let last = 0;
  let suppressed = 0;
  return (obj, msg) => {
    const now = Date.now();
    if (now - last < intervalMs) {
      suppressed++;
      return;
    }
    log.warn({ ...obj, suppressed }, msg);
    last = now;
    suppressed = 0;
  };
}
