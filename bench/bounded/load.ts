/**
 * The heavy reader of bench/suites/bounded.ts, as its own process (so its work never delays the probe):
 *   node dist/bench/bounded/load.js <mode> <base-url> <duration-ms> [last-event-id]
 * Modes: list (page through every key, 5000 per page, the largest page), replay (a since=0 subscriber reading every
 * retained event, again and again), history (a topic filter matching nothing, over the whole log).
 * Prints one JSON line with what it did, then exits. Loopback only; bounded by the duration.
 */
import WebSocket from 'ws';

const [mode, base, durationArg, lastArg] = process.argv.slice(2);
const until = Date.now() + Number(durationArg);
let ops = 0;
let items = 0;
let errors = 0;

async function list(): Promise<void> {
  while (Date.now() < until) {
    let next: string | null = '/api/state?limit=5000';
    while (next !== null && Date.now() < until) {
      const r: Response = await fetch(`${base}${next}`);
      if (r.status !== 200) errors++;
      // Counted, not parsed: this process shares a core with the probe and must stay light.
      const body = Buffer.from(await r.arrayBuffer());
      for (let i = body.indexOf('{"key":'); i !== -1; i = body.indexOf('{"key":', i + 7)) items++;
      const link = r.headers.get('link');
      next = link === null ? null : /^<([^>]+)>/.exec(link)![1]!;
    }
    ops++;
  }
}

function replayOnce(last: number): Promise<void> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/api/events/subscribe?since=0`);
    let n = 0;
    const done = () => {
      clearInterval(timer);
      ws.terminate();
      resolve();
    };
    const timer = setInterval(() => Date.now() >= until && done(), 50);
    ws.on('message', (m) => {
      n++;
      items++;
      // The id leads every frame ({"id":N,…}): read it without parsing the event.
      const head = (m as Buffer).subarray(0, 24).toString('latin1');
      if (Number(/^\{"id":(\d+)/.exec(head)?.[1] ?? 0) >= last) {
        ops++;
        done();
      }
    });
    ws.on('error', () => {
      errors++;
      done();
    });
    ws.on('close', () => {
      if (n === 0) errors++;
      done();
    });
  });
}

async function replay(): Promise<void> {
  const last = Number(lastArg);
  while (Date.now() < until) await replayOnce(last);
}

async function history(): Promise<void> {
  while (Date.now() < until) {
    const r = await fetch(`${base}/api/events/history?topic=never.*&last=50`);
    if (r.status !== 200) errors++;
    await r.arrayBuffer();
    ops++;
  }
}

const modes: Record<string, () => Promise<void>> = { list, replay, history };
const fn = modes[mode ?? ''];
if (!fn || !base || !(Number(durationArg) > 0)) {
  process.stderr.write('usage: bounded/load.js list|replay|history <base-url> <duration-ms> [last-event-id]\n');
  process.exit(2);
}
fn().then(
  () => {
    process.stdout.write(`${JSON.stringify({ mode, ops, items, errors })}\n`);
    process.exit(0);
  },
  (e: unknown) => {
    process.stderr.write(`bounded-load: ${String(e)}\n`);
    process.exit(1);
  },
);
