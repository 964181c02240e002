import { receiveMessageOnPort, type MessagePort } from 'node:worker_threads';

/** A concurrency seen this long ago no longer makes a batch wait, ms. */
const GROUP_MEMORY_MS = 20;

/**
 * Group commit's wait (issue 47; WRITER_GROUP_WAIT_US in src/shared/limits.ts). After each batch
 * the writer notes how many envelopes were present at once — the batch, and those that arrived
 * while it ran. When the next batch would start with fewer than the most seen in the last
 * GROUP_MEMORY_MS (at most `max`), it waits up to `waitUs` for the rest: the writers of the last
 * batch coming back with their next write. A few agents writing at once then share one COMMIT
 * and one fsync instead of alternating between two half-full batches; one agent alone never
 * waits (its group is 1), and a large group is not waited for (its COMMIT is shared widely
 * already). The wait blocks the writer thread on the front's post counter (Atomics.wait on
 * `posted`), and takes what arrives from the port directly (receiveMessageOnPort).
 */
export class GroupWait {
  private group = 1;
  private seenAt = 0;

  constructor(
    private readonly port: MessagePort,
    /** The front's post counter (schemas/rpc/writer-stats.ts: POSTED). */
    private readonly posted: Int32Array,
    private readonly deliver: (msg: unknown) => void,
    private readonly waitUs: number,
    private readonly max: number,
  ) {}

  /** Hands over what the port holds now, without a turn of the event loop. */
  drain(): void {
    for (let m = receiveMessageOnPort(this.port); m !== undefined; m = receiveMessageOnPort(this.port)) this.deliver(m.message);
  }

  /** After a batch of `size`: takes what arrived meanwhile (into the queue) and notes the group, `size` + `queued()`. */
  batchDone(size: number, queued: () => number): void {
    if (this.waitUs === 0) return;
    this.drain();
    const n = size + queued();
    const now = performance.now();
    if (n >= this.group || now - this.seenAt > GROUP_MEMORY_MS) {
      this.group = n;
      this.seenAt = now;
    }
  }

  /** Before a batch: waits (up to waitUs) while `queued()` is short of the recent group and not `stop()`. */
  gather(queued: () => number, stop: () => boolean): void {
    if (this.waitUs === 0 || this.group > this.max || queued() >= this.group) return;
    if (performance.now() - this.seenAt > GROUP_MEMORY_MS) return;
    const until = performance.now() + this.waitUs / 1000;
    for (;;) {
      // Read before draining: a post after the drain bumps the counter, and the wait returns at once.
      const seen = Atomics.load(this.posted, 0);
      this.drain();
      if (queued() >= this.group || stop()) return;
      const left = until - performance.now();
      if (left <= 0) return;
      Atomics.wait(this.posted, 0, seen, left);
    }
  }
}
