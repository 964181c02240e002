import pino, { type Logger } from 'pino';

export type { Logger };

export type Component = 'main' | 'http' | 'ws' | 'writer' | 'pool' | 'rpc' | 'mcp' | 'events' | 'instances' | 'liveness' | 'config';

/**
 * Root logger: JSON lines on stderr, quiet at `info` (lifecycle only), ISO times,
 * authorization headers redacted. Components log through `log.child({ component })`.
 */
export function createLogger(level: string, dest: number | NodeJS.WritableStream = 2): Logger {
  const stream = typeof dest === 'number' ? pino.destination({ fd: dest, sync: false }) : dest;
  return pino(
    {
      level,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: ['req.headers.authorization', 'authorization', 'token'],
    },
    stream,
  );
}

/** A logger that discards everything (tests that do not look at logs). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

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
