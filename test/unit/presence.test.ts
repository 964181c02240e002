import t from 'tap';
import { Presence, presenceTolerance, type Absence, type Clock } from '../../src/domains/instances/presence.js';
import { LivenessMonitor } from '../../src/domains/instances/liveness.js';
import { silentLogger } from '../../src/log.js';

/** A clock the test moves by hand: the monotonic and the wall clock each on their own. */
function manualClock(): Clock & { tick(ms: number): void; step(ms: number): void } {
  let mono = 1_000;
  let wall = 1_700_000_000_000;
  return {
    mono: () => mono,
    wall: () => wall,
    tick(ms) {
      mono += ms;
      wall += ms;
    },
    step(ms) {
      wall += ms;
    },
  };
}

/** Runs the probe `n` times on time. */
function onTime(p: Presence, c: ReturnType<typeof manualClock>, n: number, probeMs = 500): void {
  for (let i = 0; i < n; i++) {
    c.tick(probeMs);
    p.sample();
  }
}

t.test('judging starts a full grace after start, and on-time probes keep it', async (t) => {
  const c = manualClock();
  const p = new Presence({ probeMs: 500, toleranceMs: 1000, graceMs: 10_000, clock: c });
  t.notOk(p.judging(), 'just started: agents get a full timeout to heartbeat');
  onTime(p, c, 19);
  t.notOk(p.judging(), '9.5 s of 10 s grace');
  onTime(p, c, 1);
  t.ok(p.judging(), 'a full timeout present: judging');
  onTime(p, c, 100);
  t.ok(p.judging());
  t.equal(p.absences, 0);
});

t.test('a hold-up (SIGSTOP, a blocked loop) restarts the grace and credits the missed wall time', async (t) => {
  const c = manualClock();
  const p = new Presence({ probeMs: 500, toleranceMs: 1000, graceMs: 10_000, clock: c });
  const seen: Absence[] = [];
  p.onAbsence((a) => seen.push(a));
  onTime(p, c, 40);
  t.ok(p.judging());
  c.tick(20_500); // stopped for 20 s: the probe runs 20 s late
  t.notOk(p.judging(), 'held up: nobody is judged');
  t.equal(seen.length, 1);
  t.equal(seen[0]!.heldMs, 20_000);
  t.equal(seen[0]!.missedWallMs, 20_000, 'the 20 s the server missed');
  t.equal(p.lastLagMs, 20_000);
  t.equal(p.graceLeftMs(), 10_000);
  onTime(p, c, 19);
  t.notOk(p.judging(), 'still in the grace');
  onTime(p, c, 1);
  t.ok(p.judging(), 'a full timeout after the resumption');
  c.tick(1_400); // 900 ms late: jitter, not an absence
  t.ok(p.judging());
  t.equal(p.absences, 1);
});

t.test('a wall-clock step either way changes nothing but starts a grace; the step is credited', async (t) => {
  const c = manualClock();
  const p = new Presence({ probeMs: 500, toleranceMs: 1000, graceMs: 300_000, clock: c });
  const seen: Absence[] = [];
  p.onAbsence((a) => seen.push(a));
  onTime(p, c, 600);
  t.ok(p.judging());
  c.step(600_000); // NTP steps the clock 10 min forward
  onTime(p, c, 1);
  t.notOk(p.judging());
  t.same(seen.map((a) => [a.heldMs, a.missedWallMs]), [[0, 600_000]], 'no hold-up, 10 min of wall clock credited');
  onTime(p, c, 600);
  t.ok(p.judging());
  c.step(-120_000);
  onTime(p, c, 1);
  t.same(seen.at(-1), { heldMs: 0, missedWallMs: -120_000 }, 'a backward step is credited backwards');
  c.step(400); // under the tolerance: not an incident
  onTime(p, c, 1);
  t.equal(seen.length, 2);
});

t.test('tolerance: a quarter of the timeout, between 1 s and 30 s', async (t) => {
  t.equal(presenceTolerance(1000), 1000);
  t.equal(presenceTolerance(10_000), 2500);
  t.equal(presenceTolerance(300_000), 30_000);
});

t.test('the liveness job: a grace when it starts on a node, and leases shifted only by the node leading right now', async (t) => {
  const c = manualClock();
  const p = new Presence({ probeMs: 500, toleranceMs: 1000, graceMs: 10_000, clock: c });
  onTime(p, c, 100); // a follower, present for 50 s: its own start-up grace is long over
  t.ok(p.judging());
  let leading = true;
  const shifted: number[] = [];
  // The monitor's own check never runs here (interval far away); `instances` is not touched.
  const monitor = new LivenessMonitor(null as never, p, { intervalMs: 1e9, timeoutMs: 10_000, log: silentLogger(), leading: () => leading, shiftLeases: async (ms) => (shifted.push(ms), 1) });
  monitor.start();
  t.teardown(() => monitor.stop());
  t.notOk(p.judging(), 'elected leader: agents that heartbeated another node get a full timeout');
  onTime(p, c, 20);
  t.ok(p.judging(), 'judging a full timeout after taking over');

  // Paused (SIGSTOP) for 20 s; meanwhile another node took the lead. The probe fires before the election deposes.
  leading = false;
  c.tick(20_500);
  await monitor.settled();
  t.same(shifted, [], 'an ex-leader does not credit the leases (the new leader did)');
  leading = true;
  c.tick(20_500);
  await monitor.settled();
  t.same(shifted, [20_000], 'the leader credits the 20 s it missed');
});
