import { readlinkSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import { workerData, type MessagePort } from 'node:worker_threads';
import { Compile } from '../../schemas/typebox.js';
import { DeliveryRun, type DeliveryRunResult, type DeliveryStartup } from '../../schemas/rpc/delivery.js';
import { deliver, deliverLimits } from './deliver.js';
import { deliveryBody } from '../../src/shared/webhook-body.js';
import { EventLog } from './log.js';

/**
 * The webhook delivery thread: HTTP POSTs to receivers (request building, HMAC, reply parsing,
 * keep-alive sockets) run here, off the front's event loop, and so does reading the events' bodies
 * from the log: the front only picks which events a webhook is due (ids) and settles what this
 * thread reports. One message per run of a webhook's events; the runs of different webhooks
 * proceed concurrently, each in order.
 */
const { port, ...startup } = workerData as DeliveryStartup & { port: MessagePort };
const limits = deliverLimits(startup.timeout_ms, startup.max_reply_bytes, startup.max_sockets);
const log = new EventLog(startup.db_path);
const check = Compile(DeliveryRun);
let aborter = new AbortController();

async function run(job: DeliveryRun): Promise<DeliveryRunResult> {
  const signal = aborter.signal;
  let delivered = 0;
  if ('bodies' in job) {
    for (const body of job.bodies) {
      const r = await deliver(limits, job.url, job.secret, body, signal);
      if (!r.ok) return { id: job.id, delivered, error: r.error };
      delivered++;
    }
    return { id: job.id, delivered };
  }
  let events;
  try {
    events = log.read(job.events);
  } catch (err) {
    // Nothing sent, and not the receiver's fault (no failed_event): the front retries the run
    // later without counting a failure against the webhook.
    return { id: job.id, delivered: 0, error: `could not read the event log: ${(err as Error).message}` };
  }
  for (const e of events) {
    const r = await deliver(limits, job.url, job.secret, deliveryBody(e), signal);
    if (!r.ok) return { id: job.id, delivered, error: r.error, failed_event: e.id };
    delivered++;
  }
  return { id: job.id, delivered };
}

port.on('message', (msg: unknown) => {
  if ((msg as { control?: unknown })?.control === 'abort') {
    aborter.abort();
    aborter = new AbortController();
    return;
  }
  if (!check.Check(msg)) {
    const id = (msg as { id?: unknown })?.id;
    if (typeof id === 'number') port.postMessage({ id, delivered: 0, error: 'invalid delivery request' } satisfies DeliveryRunResult);
    return;
  }
  void run(msg).then((r) => port.postMessage(r));
});
/**
 * Lowers this thread's priority by `nice` (Linux keeps a nice value per thread: setpriority on
 * the thread id touches this thread alone). Returns why it could not, or undefined.
 */
function niceThisThread(nice: number): string | undefined {
  if (nice === 0) return undefined;
  if (process.platform !== 'linux') return `thread priority not lowered on ${process.platform}`;
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    setPriority(tid, Math.min(19, getPriority(tid) + nice));
    return undefined;
  } catch (err) {
    return `thread priority not lowered: ${(err as Error).message}`;
  }
}

const warning = niceThisThread(startup.nice);
port.postMessage(warning === undefined ? { control: 'ready' } : { control: 'ready', warning });
