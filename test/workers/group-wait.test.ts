import { MessageChannel, Worker } from 'node:worker_threads';
import t from 'tap';
import { GroupWait } from '../../workers/writer/group.js';

/**
 * Group commit's wait (workers/writer/group.ts) on a real MessagePort and a real shared counter,
 * the posts coming from another thread as the front's do: a batch waits for the rest of a group
 * it saw recently, and for no one else.
 */

/** A thread that posts `count` envelopes on `port`, `gapMs` apart, bumping and notifying `posted` after each, as the front does. */
function poster(port: MessagePort, posted: Int32Array, count: number, gapMs: number): Worker {
  const code = `
    const { workerData } = require('node:worker_threads');
    const { port, posted, count, gapMs } = workerData;
    let i = 0;
    const next = () => {
      port.postMessage([{ id: ++i }]);
      Atomics.add(posted, 0, 1);
      Atomics.notify(posted, 0);
      if (i < count) setTimeout(next, gapMs); else port.close();
    };
    setTimeout(next, gapMs);`;
  return new Worker(code, { eval: true, workerData: { port, posted, count, gapMs }, transferList: [port] });
}

function setup(waitUs: number, max = 8) {
  const { port1, port2 } = new MessageChannel();
  const posted = new Int32Array(new SharedArrayBuffer(4));
  const queue: unknown[] = [];
  const deliver = (msg: unknown) => {
    for (const m of msg as unknown[]) queue.push(m);
  };
  const group = new GroupWait(port1, posted, deliver, waitUs, max);
  return { port1, port2, posted, queue, group, queued: () => queue.length, close: () => port1.close() };
}

const never = () => false;

t.test('a batch waits for the rest of the group it saw, and no longer', async (t) => {
  const s = setup(10_000_000); // 10 s: only the group's arrival ends this wait
  t.teardown(s.close);
  s.group.batchDone(4, s.queued); // four writers were present at once
  s.queue.push({ id: 0 }); // the first of them is back
  const w = poster(s.port2, s.posted, 3, 5);
  const t0 = performance.now();
  s.group.gather(s.queued, never);
  const waited = performance.now() - t0;
  t.equal(s.queue.length, 4, 'the batch starts with the whole group');
  t.ok(waited < 5000, `ended by the posts, not by the 10 s wait (${waited.toFixed(1)} ms)`);
  await w.terminate();
});

t.test('a group that does not come back costs the wait once per batch, then the batch runs', async (t) => {
  const s = setup(30_000); // 30 ms
  t.teardown(s.close);
  s.group.batchDone(3, s.queued);
  s.queue.push({ id: 0 });
  const t0 = performance.now();
  s.group.gather(s.queued, never);
  t.ok(performance.now() - t0 >= 29, 'waited its 30 ms');
  t.equal(s.queue.length, 1, 'and runs what it has');
});

t.test('one writer alone, a large group, a stale group, a closing writer: no wait', async (t) => {
  const s = setup(10_000_000);
  t.teardown(s.close);
  const timed = (f: () => void) => {
    const t0 = performance.now();
    f();
    return performance.now() - t0;
  };
  s.queue.push({ id: 0 });
  s.group.batchDone(1, () => 0);
  t.ok(timed(() => s.group.gather(s.queued, never)) < 5000, 'a group of one never waits');
  s.group.batchDone(9, () => 0);
  t.ok(timed(() => s.group.gather(s.queued, never)) < 5000, 'a group past the largest waited for (8) does not wait');
  s.group.batchDone(2, () => 0);
  t.ok(timed(() => s.group.gather(s.queued, () => true)) < 5000, 'a closing writer does not wait');
  await new Promise((r) => setTimeout(r, 25));
  t.ok(timed(() => s.group.gather(s.queued, never)) < 5000, 'a group last seen more than 20 ms ago is forgotten');
  const off = setup(0);
  t.teardown(off.close);
  off.group.batchDone(4, () => 0);
  off.queue.push({ id: 0 });
  t.ok(timed(() => off.group.gather(off.queued, never)) < 5000, 'waitUs 0: off');
});

t.test('what arrived during a batch joins the queue and counts in the group', async (t) => {
  const s = setup(10_000_000);
  t.teardown(s.close);
  s.port2.postMessage([{ id: 1 }, { id: 2 }]);
  await new Promise((r) => setTimeout(r, 10)); // delivered to the port, not yet read
  s.group.batchDone(2, s.queued);
  t.equal(s.queue.length, 2, 'taken from the port without a turn of the event loop');
  s.queue.length = 0;
  s.queue.push({ id: 3 }, { id: 4 }, { id: 5 });
  const w = poster(s.port2, s.posted, 1, 5);
  s.group.gather(s.queued, never);
  t.equal(s.queue.length, 4, 'the group was 2 + 2: the batch waited for the fourth');
  await w.terminate();
});
