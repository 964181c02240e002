import t from 'tap';
import { LogTail, type LogTailOptions } from '../../src/bus/log-tail.js';
import { silentLogger } from '../../src/log.js';
import { waitUntil } from '../helpers/wait.js';

interface Row {
  id: number;
}

/**
 * A log in memory (ids 1..n, some pruned) read through a LogTail the way the event feed and the
 * state change feed read theirs; each read waits for `gate` when one is set, so the test decides
 * when a read is over.
 */
function harness(over: Partial<LogTailOptions<Row>> = {}, page = 3) {
  const h = {
    rows: [] as Row[],
    delivered: [] as number[],
    reads: [] as number[],
    gaps: [] as Array<[number, number]>,
    gate: null as Promise<void> | null,
    fail: 0,
    append(n: number): void {
      const from = h.rows.length === 0 ? 1 : h.rows[h.rows.length - 1]!.id + 1;
      for (let i = 0; i < n; i++) h.rows.push({ id: from + i });
    },
  };
  const tail = new LogTail<Row>({
    what: 'the test log',
    log: silentLogger(),
    pollMs: 60_000,
    retryMs: 10,
    read: async (after) => {
      h.reads.push(after);
      if (h.gate) await h.gate;
      if (h.fail > 0) {
        h.fail--;
        throw new Error('connection lost');
      }
      return h.rows.filter((r) => r.id > after).slice(0, page);
    },
    deliver: (r) => void h.delivered.push(r.id),
    more: (p) => p.length === page,
    gap: (after, next) => void h.gaps.push([after, next]),
    ...over,
  });
  return { h, tail };
}

function gate(): { promise: Promise<void>; open(): void } {
  let open!: () => void;
  const promise = new Promise<void>((r) => (open = r));
  return { promise, open };
}

const turn = () => new Promise((r) => setImmediate(r));

t.test('reads page by page after the cursor until a short page, each row once and in order', async (t) => {
  const { h, tail } = harness();
  h.append(7);
  tail.start(0);
  tail.poke();
  await waitUntil('all delivered', () => h.delivered.length === 7);
  await turn();
  t.same(h.delivered, [1, 2, 3, 4, 5, 6, 7]);
  t.same(h.reads, [0, 3, 6], 'full pages read on; the short one ends the pull');
  t.equal(tail.last, 7, 'the cursor is the last row delivered');
  t.same(tail.stats, { reads: 3, failures: 0 });
  tail.stop();
});

t.test('pokes during a pull make one more read at its end, not one each', async (t) => {
  const { h, tail } = harness();
  h.append(1);
  tail.start(0);
  const g = gate();
  h.gate = g.promise;
  tail.poke();
  await waitUntil('the first read under way', () => h.reads.length === 1);
  h.append(1);
  for (let i = 0; i < 5; i++) tail.poke();
  h.gate = null;
  g.open();
  await waitUntil('both delivered', () => h.delivered.length === 2);
  await turn();
  t.same(h.reads, [0, 2], 'five pokes during the read: one more read (the first read saw both rows)');
  t.same(h.delivered, [1, 2]);
  tail.stop();
});

t.test('a first row past the cursor + 1 is a gap, told with both ids; delivery goes on', async (t) => {
  const { h, tail } = harness();
  h.append(6);
  h.rows.splice(0, 4); // 1..4 pruned
  tail.start(2);
  tail.poke();
  await waitUntil('delivered', () => h.delivered.length === 2);
  t.same(h.gaps, [[2, 5]]);
  t.same(h.delivered, [5, 6]);
  tail.stop();
});

t.test('a failed read is retried after the retry delay, from the same cursor', async (t) => {
  const { h, tail } = harness();
  h.append(2);
  h.fail = 2;
  tail.start(0);
  tail.poke();
  await waitUntil('delivered after two failures', () => h.delivered.length === 2);
  t.same(h.reads, [0, 0, 0], 'the failed reads are read again, nothing skipped');
  t.same(tail.stats, { reads: 3, failures: 2 });
  tail.stop();
});

t.test('idle: pokes are ignored; prepare() may move the cursor and end the pull without reading', async (t) => {
  let idle = true;
  let skipTo: number | null = null;
  const { h, tail } = harness({
    idle: () => idle,
    prepare: () => {
      if (skipTo === null) return true;
      tail.last = skipTo;
      skipTo = null;
      return Promise.resolve(false);
    },
  });
  h.append(5);
  tail.start(0);
  tail.poke();
  await turn();
  t.same(h.reads, [], 'nobody to deliver to: no read');
  idle = false;
  skipTo = 4;
  tail.poke();
  await waitUntil('the cursor moved', () => tail.last === 4);
  await turn();
  t.same(h.reads, [], 'prepare() ended the pull before reading');
  tail.poke();
  await waitUntil('delivered from the new cursor', () => h.delivered.length === 1);
  t.same(h.delivered, [5]);
  tail.stop();
});

t.test('batchTurn: the pokes of one turn make one read at its end', async (t) => {
  const { h, tail } = harness({ batchTurn: true });
  tail.start(0);
  for (let i = 0; i < 3; i++) {
    h.append(1);
    tail.poke();
  }
  t.same(h.reads, [], 'nothing read within the turn');
  await waitUntil('delivered', () => h.delivered.length === 3);
  await turn();
  t.same(h.reads, [0, 3], 'one read for the turn (a full page reads on once)');
  tail.stop();
});

t.test('a delivery that returns a promise is awaited before the cursor moves; delivered() after each page', async (t) => {
  const pages: number[][] = [];
  const order: string[] = [];
  const { h, tail } = harness({
    deliver: async (r) => {
      await turn();
      order.push(`row ${r.id}`);
      h.delivered.push(r.id);
    },
    delivered: (p) => {
      pages.push(p.map((r) => r.id));
      order.push('page');
    },
  });
  h.append(4);
  tail.start(0);
  tail.poke();
  await waitUntil('delivered', () => h.delivered.length === 4);
  await turn();
  t.same(pages, [[1, 2, 3], [4]]);
  t.same(order, ['row 1', 'row 2', 'row 3', 'page', 'row 4', 'page']);
  tail.stop();
});

t.test('the poll reads without a poke; stop() ends the poll, the retries and the delivery', async (t) => {
  const { h, tail } = harness({ pollMs: 10 });
  h.append(1);
  tail.start(0);
  await waitUntil('the poll delivered', () => h.delivered.length === 1);
  const g = gate();
  h.gate = g.promise;
  h.append(1);
  const before = h.reads.length;
  await waitUntil('a read under way', () => h.reads.length > before);
  tail.stop();
  g.open();
  h.gate = null;
  const reads = h.reads.length;
  await new Promise((r) => setTimeout(r, 50));
  t.same(h.delivered, [1], 'a page read after stop() is not delivered');
  t.equal(h.reads.length, reads, 'no read after stop()');
  tail.poke();
  await turn();
  t.equal(h.reads.length, reads, 'a poke after stop() reads nothing');
});
