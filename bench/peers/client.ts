/**
 * One scenario of bench/peers against one server, as its own process pinned to the load core:
 *   node dist/bench/peers/client.js '<json Spec>'
 * prints one JSON line (the scenario's result) on stdout and exits. Every loop is bounded in time
 * (`durationS`, plus a hard deadline) and in count.
 *
 * Scenarios:
 *   write    closed loop, `connections` clients each writing 1 KB to one of 1000 keys, one at a
 *            time: acknowledged writes, p50/p99 (used for NATS; koor and etcd go through wrk, Redis
 *            through redis-benchmark)
 *   read     the same with reads of one 1 KB key
 *   cas      `clients` clients add 1 to one counter with a compare-and-set each (read, then a
 *            conditional write; on a lost compare the reply's current value when the server gives
 *            it, else a re-read): successes/s, conflicts, and the check that nothing was lost. With
 *            `casBin` (bench/peers/cas.c) this process only sets the counter up and checks it, and
 *            the C generator runs the clients
 *   watch    `watchers` watchers of a prefix while 4 writers put `writes` keys under it: every
 *            watcher must see every acknowledged write, in revision order, once
 *   pubsub   `subscribers` subscribers while 4 publishers send `messages`: every subscriber must
 *            see every message, in one order shared by all, each publisher's in its send order
 *   revision the server's change counter now (koor/etcd revision, NATS stream sequence, Redis SETs)
 *
 * The scenarios are in client-write.ts, client-cas.ts and client-fanout.ts; what they measure with
 * in client-figures.ts.
 */
import { cas } from './client-cas.js';
import { pubsub, watch } from './client-fanout.js';
import { loop } from './client-write.js';
import { natsSetup, revision } from './ops.js';

import type { Spec } from './spec.js';


async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2] ?? '{}') as Spec;
  const hard = setTimeout(() => {
    process.stderr.write(`peers client: ${spec.peer} ${spec.scenario} hit its hard deadline\n`);
    process.exit(3);
  }, ((spec.durationS ?? 1) + 90) * 1000);
  hard.unref();
  let out: unknown;
  switch (spec.scenario) {
    case 'setup':
      if (spec.peer === 'nats') await natsSetup(spec.port);
      out = { ok: true };
      break;
    case 'revision':
      out = { revision: await revision(spec) };
      break;
    case 'write':
    case 'read':
      out = await loop(spec, spec.scenario);
      break;
    case 'cas':
      out = await cas(spec);
      break;
    case 'watch':
      out = await watch(spec);
      break;
    case 'pubsub':
      out = await pubsub(spec);
      break;
  }
  process.stdout.write(`${JSON.stringify(out)}\n`, () => process.exit(0));
}

main().catch((e: unknown) => {
  process.stderr.write(`peers client: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
