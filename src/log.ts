import pino, { type Logger } from 'pino';

export type { Logger };


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
