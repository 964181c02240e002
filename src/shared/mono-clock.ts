/**
 * Milliseconds on the machine's monotonic clock (CLOCK_MONOTONIC): one clock for every thread and
 * process of this boot, which a step of the wall clock (NTP, `date -s`, a VM resume) does not
 * move. For deadlines and durations that cross threads; never a date.
 */
export const monoNow = (): number => Number(process.hrtime.bigint()) / 1e6;
