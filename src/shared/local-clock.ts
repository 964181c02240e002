import fs from 'node:fs';
import path from 'node:path';
import { setDataClock } from '../../schemas/db/time.js';
import { monoNow } from './mono-clock.js';

/** The file in the data directory that keeps the clock's base across restarts. */
const CLOCK_FILE = 'clock.json';
const BOOT_ID = '/proc/sys/kernel/random/boot_id';

interface Base {
  boot: string;
  /** Epoch ms at `mono`. */
  wall: number;
  /** The monotonic clock (machine-wide since boot), ms. */
  mono: number;
}

function bootId(): string {
  try {
    return fs.readFileSync(BOOT_ID, 'utf8').trim();
  } catch {
    return '';
  }
}

/**
 * The single server's data clock: the wall clock as it read when this machine's boot first ran
 * the server on this data directory, carried forward on the monotonic clock — which a step of
 * the wall clock (an NTP correction, an operator's `date -s`) does not move. A lease's or a key's
 * TTL therefore lasts its length in real time however the wall clock jumps, also across a restart
 * (kill -9 included) in the same boot: the base is kept in the data directory's clock.json, which
 * every thread of the server reads. After a reboot (or without a boot id, or with the file
 * removed while the server is stopped) the wall clock is read again. Answers how far the wall
 * clock is from the data clock, ms, for a warning.
 */
export function startLocalClock(dataDir: string): number {
  const file = path.join(dataDir, CLOCK_FILE);
  const boot = bootId();
  let base: Base | null = null;
  try {
    const b = JSON.parse(fs.readFileSync(file, 'utf8')) as Base;
    if (boot !== '' && b.boot === boot && Number.isFinite(b.wall) && Number.isFinite(b.mono) && b.mono <= monoNow()) base = b;
  } catch {
    // none yet, or unreadable: a new base
  }
  if (!base) {
    base = { boot, wall: Date.now(), mono: monoNow() };
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(base));
    fs.renameSync(tmp, file);
  }
  const { wall, mono } = base;
  // Whole milliseconds, as Date.now() gives them: the tables store them as integers.
  const now = (): number => Math.floor(wall + (monoNow() - mono));
  setDataClock(now);
  return Date.now() - now();
}
