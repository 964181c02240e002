import t from 'tap';
import { Hub } from '../../src/bus/hub.js';
import { NewsClock } from '../../src/domains/hooks/news-clock.js';
import { Shells } from '../../src/domains/hooks/shells.js';
import { EditLeases } from '../../src/domains/hooks/edit-leases.js';
import { repoRelative, type HookInput } from '../../src/domains/hooks/input.js';
import { AuditTail } from '../../src/domains/hooks/audit-tail.js';
import type { AuditNews } from '../../src/domains/hooks/reader.js';
import { HOOK_AUDIT_TAIL, HOOK_NEWS_TAIL, HOOK_SCAN_EVENTS, HOOK_SESSIONS_REMEMBERED } from '../../src/shared/limits-features.js';
import type { HookBusy } from '../../schemas/rpc/writer-hooks.js';
import { silentLogger } from '../../src/log.js';

/**
 * What lets a hook that changes nothing answer without reading or writing (src/domains/hooks):
 * the news clock a digest's mark is compared with, the shell commands written only once they
 * run long, the leases an agent holds on the files it edits. Through HTTP: test/http/hooks-quiet.test.ts.
 */

const frame = (o: unknown): Buffer => Buffer.from(JSON.stringify(o));
const sent = (id: number, recipients: string[]) => frame({ id: 900 + id, topic: 'message.sent', data: { id, recipients } });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const ev = (id: number, topic: string, data: unknown = { id }) => frame({ id, topic, data });
/** Whether news may have come: the events after the mark, or null (read). */
const since = (c: NewsClock, m: ReturnType<NewsClock['mark']>, a: string): boolean => c.after(m, a)?.length !== 0;

t.test('news clock: a mark is passed by a digest topic, a message to that agent, or a write that may store news', async (t) => {
  const c = new NewsClock();
  let m = c.mark('a');
  t.same(c.after(m, 'a'), [], 'nothing since');
  c.published(10, 'ci.build', ev(10, 'ci.build'));
  c.published(11, 'lease.denied', ev(11, 'lease.denied'));
  t.same(c.after(m, 'a'), [], 'events a digest does not read');
  c.published(12, 'task.created', ev(12, 'task.created', { id: 3, status: 'ready' }));
  t.same(c.after(m, 'a'), [{ id: 12, topic: 'task.created', data: { id: 3, status: 'ready' } }], 'a task event, its data parsed');
  m = c.mark('a');
  c.published(13, 'lease.released', ev(13, 'lease.released'));
  t.same(c.after(m, 'a')?.map((e) => e.id), [13], 'a lease let go');
  t.equal(c.newestDigestEvent(), 13);
  m = c.mark('a');
  const mb = c.mark('b');
  c.published(14, 'message.sent', sent(5, ['b']));
  t.same(c.after(m, 'a'), [], 'a message to another agent');
  t.equal(c.after(mb, 'b'), null, 'one to this agent: its inbox is read');
  t.notOk(since(c, c.mark('b'), 'b'), 'read since');
  m = c.mark('a');
  c.moved();
  t.equal(c.after(m, 'a'), null, 'an audited write (a spec, a rule, an agent joining), an unknown outcome');
  m = c.mark('a');
  c.published(15, 'message.sent', Buffer.from('{not json'));
  t.equal(c.after(m, 'a'), null, 'a message frame it cannot read: every agent may have news');
  t.equal(c.after({ event: -1, epoch: c.mark('a').epoch, message: 99 }, 'a'), null, 'a mark a full scan left: read again');
  c.seen(500);
  t.equal(c.newestDigestEvent(), 500, 'events stored before it started count as news');
  t.equal(c.after({ ...c.mark('a'), event: 13 }, 'a'), null, 'which it never saw: read');
});

t.test('news clock: the tail holds the newest events; a mark older than it or a gap in it reads', async (t) => {
  const c = new NewsClock();
  const m0 = c.mark('a');
  for (let id = 1; id <= HOOK_SCAN_EVENTS + 1; id++) c.published(id, 'lease.acquired', ev(id, 'lease.acquired'));
  t.equal(c.after(m0, 'a')?.length, HOOK_SCAN_EVENTS + 1, 'more than a digest reads at once: all of them, for the quiet check');
  t.equal(c.events(0)?.length, HOOK_SCAN_EVENTS + 1, 'a digest takes them all from it');
  t.same(c.events(HOOK_SCAN_EVENTS)?.map((e) => e.id), [HOOK_SCAN_EVENTS + 1], 'or the newer of them');
  t.same(c.events(HOOK_SCAN_EVENTS + 1), [], 'none after the newest');
  for (let id = HOOK_SCAN_EVENTS + 2; id <= 2 * HOOK_NEWS_TAIL; id++) c.published(id, 'task.done', ev(id, 'task.done'));
  const newest = 2 * HOOK_NEWS_TAIL;
  t.equal(c.after({ ...m0, event: newest - HOOK_NEWS_TAIL - 1 }, 'a'), null, 'past its bound, the oldest went');
  t.equal(c.events(newest - HOOK_NEWS_TAIL - 1), null, 'a digest that far behind reads them');
  t.equal(c.events(newest - HOOK_NEWS_TAIL)?.[0]?.id, newest - HOOK_NEWS_TAIL + 1, 'the oldest the tail holds');
  t.same(c.after({ ...m0, event: newest - 2 }, 'a')?.map((e) => e.id), [newest - 1, newest], 'the newest are kept');
  const m = c.mark('a');
  c.published(newest + 1, 'task.done', Buffer.from('{"id":1,"data":'));
  c.published(newest + 2, 'task.done', ev(newest + 2, 'task.done'));
  t.equal(c.after(m, 'a'), null, 'an event it could not read');
  t.same(c.after(c.mark('a'), 'a'), [], 'after it, nothing');
  const m2 = c.mark('a');
  c.published(newest + 4, 'task.done', ev(newest + 4, 'task.done'));
  c.published(newest + 3, 'task.done', ev(newest + 3, 'task.done'));
  t.equal(c.after(m2, 'a'), null, 'one out of order');
});

t.test("news clock of a cluster's node: the feed's events up to the newest a hook read stored, from the first it published, none past a close", async (t) => {
  const hub = new Hub({ maxEvents: 100, maxBytes: 1 << 20 }, () => {});
  const c = new NewsClock().listenFeed(hub);
  t.equal(c.eventsThrough(0, 0), null, 'nothing published yet: read');
  hub.publish(41, 'ci.build', ev(41, 'ci.build'));
  hub.publish(42, 'task.created', ev(42, 'task.created', { id: 7 }));
  t.same(c.eventsThrough(40, 42), [{ id: 42, topic: 'task.created', data: { id: 7 } }], 'from the first event it published: its data parsed');
  t.equal(c.eventsThrough(39, 42), null, 'not before it (stored before this node started): read');
  t.equal(c.eventsThrough(40, 43), null, 'one stored it has not published yet: read');
  hub.publish(43, 'lease.acquired', ev(43, 'lease.acquired'));
  hub.publish(44, 'task.done', ev(44, 'task.done'));
  t.same(c.eventsThrough(40, 43)?.map((e) => e.id), [42, 43], 'none past the newest the hook read stored');
  t.same(c.eventsThrough(44, 44), [], 'none after it');
  hub.closeAll(1012, 'data restored from a backup');
  t.equal(c.eventsThrough(40, 44), null, 'after a close (a restore, a feed that fell behind): read');
  hub.publish(10, 'task.created', ev(10, 'task.created'));
  t.same(c.eventsThrough(9, 10)?.map((e) => e.id), [10], 'then from the next event it publishes, whatever its id');
  t.equal(c.eventsThrough(8, 10), null, 'and not before it');
  hub.publish(11, 'task.done', ev(11, 'task.done'));
  hub.publish(15, 'task.done', ev(15, 'task.done'));
  t.equal(c.eventsThrough(10, 15), null, 'an id that does not follow the one before (no close seen): the tail starts again there');
  t.same(c.eventsThrough(14, 15)?.map((e) => e.id), [15], 'from it');
  hub.publish(3, 'task.created', ev(3, 'task.created'));
  t.equal(c.eventsThrough(10, 15), null, 'ids that went down (a restored log)');
  t.same(c.eventsThrough(2, 3)?.map((e) => e.id), [3], 'are its new start');
});

t.test('news clock: the agents it remembers are bounded; one forgotten reads the newest message it forgot', async (t) => {
  const c = new NewsClock();
  const old = c.mark('z');
  c.published(1, 'message.sent', sent(7, ['z']));
  const many = Array.from({ length: HOOK_SESSIONS_REMEMBERED }, (_, i) => `agent-${i}`);
  c.published(2, 'message.sent', sent(8, many));
  t.ok(since(c, old, 'z'), 'z was forgotten: its mark is below the floor');
  t.notOk(since(c, c.mark('z'), 'z'), 'and a new mark holds');
  t.ok(since(c, { ...c.mark('agent-1'), message: 7 }, 'agent-1'), 'a remembered agent still reads its own');
});

t.test('shells: a command that ends soon writes nothing; one that runs long is written once; an end is written wherever its start may wait', async (t) => {
  const writes: Array<[string, HookBusy]> = [];
  let acked = Promise.resolve();
  const write = async (id: string, busy: HookBusy) => {
    writes.push([id, busy]);
    await acked;
  };
  const row = (busy_count = 0) => ({ session_id: 's', busy_until: busy_count > 0 ? '2026-12-01 20:00:00' : '', busy_count });
  const bash = (timeout: number): HookInput => ({ session_id: 's', hook_event_name: 'PreToolUse', tool_name: 'Bash', tool_input: { command: 'npm test', timeout } });
  const ended: HookInput = { ...bash(60_000), hook_event_name: 'PostToolUse' };
  const stop: HookInput = { session_id: 's', hook_event_name: 'Stop' };
  const sh = new Shells(write, 30, false);
  t.equal(sh.note(row(), bash(60_000)), null, 'a start waits');
  t.equal(sh.count('s'), 1);
  t.equal(sh.note(row(), ended), null, 'its end takes it back');
  await sleep(60);
  t.same(writes, [], 'ended before it mattered: nothing written');
  t.equal(sh.note(row(), ended), null, 'an end with none waiting and none in the row: nothing to write (one node sees every hook)');

  sh.note(row(), bash(60_000));
  sh.note(row(), bash(1_000));
  t.equal(sh.note(row(), ended), null, 'one ends first');
  await sleep(60);
  t.equal(writes.length, 1, 'the other written once it waited');
  t.ok((writes[0]![1] as { ms: number }).ms > 50_000, 'for the longest timeout left');
  t.not(sh.note(row(1), ended), null, 'its end, with the row holding it: written');
  t.same(writes.at(-1), ['s', 'end']);

  sh.note(row(), bash(60_000));
  t.equal(sh.note(row(), stop), null, 'the turn ended before it was written: nothing to clear');
  await sleep(60);
  t.equal(writes.length, 2, 'nor written later');
  t.not(sh.note(row(1), stop), null, 'a turn that ends with the row holding one: cleared');
  t.same(writes.at(-1), ['s', 'clear']);

  // A start being written while a hook read the row without it: its end is still written.
  let ack = () => {};
  acked = new Promise<void>((r) => (ack = r));
  sh.note(row(), bash(60_000));
  await sleep(60);
  t.not(sh.note(row(), ended), null, 'an end while its start is being written: written too');
  t.not(sh.note(row(), stop), null, 'and the turn\'s end: the row cleared');
  ack();
  await sleep(0);
  t.same(writes.slice(-3).map((w) => w[1]), [{ ms: (writes.at(-3)![1] as { ms: number }).ms }, 'end', 'clear'], 'each after its start');
  t.equal(sh.note(row(), ended), null, 'once acknowledged, the row is what tells');

  const at = writes.length;
  sh.note({ ...row(), session_id: 't' }, { ...bash(60_000), session_id: 't' });
  await sh.close();
  t.match(writes.slice(at), [['t', { ms: Number }]], 'closing writes what waits');
  t.equal(writes.length, at + 1, 'once');

  // A cluster: each node keeps its own; an end may reach another node than its start.
  const cluster: Array<[string, HookBusy]> = [];
  const one = new Shells(async (id, busy) => void cluster.push([id, busy]), 30, true);
  const two = new Shells(async (id, busy) => void cluster.push([id, busy]), 30, true);
  t.equal(one.note(row(), bash(5_000)), null, 'a start waits on its node');
  t.equal(one.note(row(), ended), null, 'its end on the same node takes it back');
  t.equal(one.note(row(), bash(5_000)), null);
  t.not(two.note(row(), ended), null, 'its end on another node: written, though the row holds none');
  await sleep(60);
  t.match(cluster, [['s', 'end'], ['s', { ms: Number }]], 'then its start: the row counts one and takes one');
  t.equal(two.note(row(), stop), null, 'a turn that ends with nothing in the row writes nothing');
});

t.test('edit leases: a file the agent leases is known until its lease ends or runs out', async (t) => {
  const hub = new Hub({ maxEvents: 100, maxBytes: 1 << 20 });
  const renewals: string[] = [];
  let renewed = (_expiresAt: string) => {};
  const renew = (id: string) => {
    renewals.push(id);
    return new Promise<string>((r) => (renewed = r));
  };
  const own = new EditLeases(hub, renew, { exact: true, idleMs: 120_000, log: silentLogger() });
  const expires = new Date(Date.now() + 60_000).toISOString();
  own.set('s1', 'src/a.ts', { id: 'L1', expires_at: expires }, true);
  own.set('s1', 'src/b.ts', { id: 'L2', expires_at: '' }, false);
  t.match(own.get('s1', 'src/a.ts', Date.now()), { id: 'L1', auto: true });
  t.notOk(own.get('s2', 'src/a.ts', Date.now()), "another session's: not known");
  t.notOk(own.get('s1', 'src/a.ts', Date.now() + 61_000), 'past its time: not used');
  t.match(own.get('s1', 'src/b.ts', Date.now() + 1e9), { id: 'L2', auto: false }, 'none: held with its holder');
  // A renewal is written once a tenth of the idle lifetime (at most 10 s) has passed: here 60 s of 120.
  own.renew(own.get('s1', 'src/a.ts', Date.now())!, 'agent-1');
  own.renew(own.get('s1', 'src/a.ts', Date.now())!, 'agent-1');
  t.same(renewals, ['L1'], 'one renewal in flight at a time');
  renewed(new Date(Date.now() + 115_000).toISOString());
  await sleep(0);
  t.ok(own.get('s1', 'src/a.ts', Date.now() + 100_000), 'renewed: the copy runs on to its new expiry');
  own.renew(own.get('s1', 'src/a.ts', Date.now())!, 'agent-1');
  t.same(renewals, ['L1'], 'renewed 5 s ago: nothing written');
  hub.publish(1, 'lease.released', frame({ id: 1, topic: 'lease.released', data: { id: 'L1', reason: 'released' } }));
  t.notOk(own.get('s1', 'src/a.ts', Date.now()), 'its end, told by its event');
  t.ok(own.get('s1', 'src/b.ts', Date.now()), 'the others kept');
  hub.publish(2, 'lease.released', Buffer.from('{oops'));
  t.notOk(own.get('s1', 'src/b.ts', Date.now()), 'an event it cannot read: all forgotten');

  const failing = new EditLeases(hub, () => Promise.reject(new Error('lease L5 not found')), { exact: true, idleMs: 120_000, log: silentLogger() });
  failing.set('s1', 'src/c.ts', { id: 'L5', expires_at: expires }, true);
  failing.renew(failing.get('s1', 'src/c.ts', Date.now())!, 'agent-1');
  await sleep(0);
  t.notOk(failing.get('s1', 'src/c.ts', Date.now()), 'a renewal that failed: read again at the next edit');

  const cluster = new EditLeases(hub, renew, { exact: false, idleMs: 120_000, log: silentLogger() });
  t.match(cluster.set('s1', 'src/a.ts', { id: 'L3', expires_at: expires }, true), { id: 'L3' }, 'in a cluster, a copy to decide with');
  t.notOk(cluster.get('s1', 'src/a.ts', Date.now()), 'but none kept: another node may end it');
});

t.test('repoRelative: an edited file as the repository names it, resolved only when its path needs it', async (t) => {
  const cases: Array<[root: string, cwd: string, file: string, rel: string | null]> = [
    ['/repo/shop', '', '/repo/shop/src/a.ts', 'src/a.ts'],
    ['/repo/shop', '/repo/shop/src', 'b.ts', 'src/b.ts'],
    ['/repo/shop', '', '/repo/shop//src/./a.ts', 'src/a.ts'],
    ['/repo/shop', '', '/repo/shop/src/../a.ts', 'a.ts'],
    ['/repo/shop', '', '/repo/shop/../x.ts', null],
    ['/repo/shop', '', '/repo/shopping/a.ts', null],
    ['/repo/shop', '', '/repo/shop', null],
    ['/repo/shop', '', '/repo/shop/', null],
    ['/repo/shop/', '', '/repo/shop/a.ts', 'a.ts'],
    ['/repo/shop', '', '/repo/shop/.env', '.env'],
    ['/repo/shop', '', '/repo/shop/a..b/...', 'a..b/...'],
    ['/repo/shop', '', '/repo/shop/src/', 'src'],
  ];
  for (const [root, cwd, file, rel] of cases) t.equal(repoRelative(root, cwd, file), rel, `${file} under ${root}`);
});

t.test('audit tail: every answer is what the log read directly gives, whatever the order sessions ask in; a team reads each entry about once', async (t) => {
  let seed = 7;
  const rnd = (n: number) => {
    // mulberry32
    let x = (seed = (seed + 0x6d2b79f5) | 0);
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) % n;
  };
  /**
   * `sessions` at cursors of their own, one asking at a time, each reading on from where it read to,
   * a few now and then long silent; the log (ids 1.., every third a digest's entry) growing a few
   * ids a round and now and then by a burst of `burst` ids (a team joining).
   */
  const run = (o: { sessions: number; rounds: number; burst: number; burstOneIn: number }) => {
    const log: AuditNews[] = [];
    let newest = 0;
    const grow = (k: number) => {
      for (let i = 0; i < k; i++) {
        newest++;
        if (newest % 3 === 0) log.push({ id: newest, actor: `a${newest}`, action: 'instance.register', resource: `i${newest}`, detail: '{}' });
      }
    };
    const direct = (after: number, upto: number, limit: number) => {
      let lo = 0;
      for (let hi = log.length; lo < hi; ) {
        const mid = (lo + hi) >>> 1;
        if (log[mid]!.id <= after) lo = mid + 1;
        else hi = mid;
      }
      return log.slice(lo, lo + limit).filter((e) => e.id <= upto);
    };
    let rowsRead = 0;
    const tail = new AuditTail((after, upto, limit) => {
      const got = direct(after, upto, limit);
      rowsRead += got.length;
      return got;
    });
    const cursors = Array.from({ length: o.sessions }, () => 0);
    let asked = 0;
    let mismatches = 0;
    for (let round = 0; round < o.rounds; round++) {
      grow(rnd(o.burstOneIn) === 0 ? o.burst : rnd(4));
      const s = rnd(cursors.length);
      if (rnd(200) === 0) cursors[s] = Math.max(0, newest - 3 * HOOK_AUDIT_TAIL - rnd(500)); // a session long silent
      const limit = [1, 5, 200][rnd(3)]!;
      const got = tail.after(cursors[s]!, newest, limit) as AuditNews[];
      const want = direct(cursors[s]!, newest, limit);
      asked += want.length;
      if (JSON.stringify(got.map((e) => e.id)) !== JSON.stringify(want.map((e) => e.id))) mismatches++;
      cursors[s] = got.length === limit ? got.at(-1)!.id : newest;
    }
    return { mismatches, rowsRead, asked, tail };
  };
  // Bursts longer than the stretch reads at once, sessions far apart.
  const harsh = run({ sessions: 100, rounds: 3000, burst: 4 * HOOK_AUDIT_TAIL, burstOneIn: 300 });
  t.equal(harsh.mismatches, 0, 'bursts longer than the stretch: every answer the direct read');
  // A team: its sessions ask often, a burst of joins now and then.
  const team = run({ sessions: 50, rounds: 3000, burst: 2 * HOOK_AUDIT_TAIL, burstOneIn: 1500 });
  t.equal(team.mismatches, 0, 'a team: every answer the direct read');
  t.ok(team.rowsRead < team.asked / 3, `a team: entries read from the log (${team.rowsRead}) a fraction of those answered (${team.asked})`);
  t.same(team.tail.after(5, 5, 10), [], 'an empty range');
  t.same((team.tail.after(0, 30, 4) as AuditNews[]).map((e) => e.id), [3, 6, 9, 12], 'behind the stretch: read');
});
