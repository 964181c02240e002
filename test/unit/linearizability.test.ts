/**
 * The linearizability checker of the Jepsen-style cluster checks and its models of Koor's state
 * store, leases and task queue, on small histories made by hand (each pair: one linearizable, one
 * a single change away from it that is not), on example histories published with Porcupine (with
 * the verdicts Porcupine's own tests expect), and on generated histories of 10,000 operations.
 */

import fs from 'node:fs';
import t from 'tap';
import { check, type Model, type Op } from '../../bench/jepsen/checker.js';
import { casRegister, kvModel, leaseModel, queueModel, valueRegister, type KvInput, type KvOutput, type LeaseInput, type LeaseOutput, type QueueInput, type QueueOutput, type RegisterInput, type RegisterOutput, type ValueRegisterInput, type ValueRegisterOutput } from '../../bench/jepsen/models.js';
import { checkStreams, describeAnomaly, type Publish, type Subscriber } from '../../bench/jepsen/streams.js';
import { repoPath } from '../helpers/paths.js';

/** A completed operation. */
function done<I, O>(client: number | string, input: I, call: number, ret: number, output: O): Op<I, O> {
  return { client, input, call, ret, output };
}
/** An indeterminate operation (timed out): it may have taken effect any time after `call`, or never. */
function lost<I, O>(client: number | string, input: I, call: number): Op<I, O> {
  return { client, input, call, ret: Infinity };
}
const verdict = <S, I, O>(model: Model<S, I, O>, h: Op<I, O>[]): boolean | 'unknown' => check(model, h).ok;

type RegOp = Op<RegisterInput, RegisterOutput>;
const read = (c: number, call: number, ret: number, value: string | null, version = 0): RegOp => done(c, { key: 'k', f: 'read' }, call, ret, { value, version });
const write = (c: number, call: number, ret: number, value: string, version?: number): RegOp => (version === undefined ? lost(c, { key: 'k', f: 'write', value }, call) : done(c, { key: 'k', f: 'write', value }, call, ret, { version }));
const cas = (c: number, call: number, ret: number, expect: number, value: string, out?: RegisterOutput): RegOp => (out === undefined ? lost(c, { key: 'k', f: 'cas', expect, value }, call) : done(c, { key: 'k', f: 'cas', expect, value }, call, ret, out));
const del = (c: number, call: number, ret: number, ok: boolean): RegOp => done(c, { key: 'k', f: 'delete' }, call, ret, { ok });

t.test('cas register: overlaps, stale reads, lost updates, versions', async (t) => {
  const m = casRegister();
  t.equal(verdict(m, [write(0, 0, 10, 'a', 1), read(1, 5, 15, null)]), true, 'a read overlapping a write may miss it');
  t.equal(verdict(m, [write(0, 0, 10, 'a', 1), read(1, 5, 15, 'a', 1)]), true, '... or see it');
  t.equal(verdict(m, [write(0, 0, 10, 'a', 1), read(1, 10, 15, null)]), false, 'operations that only touch are ordered: a read starting as the write returns sees it');
  const stale = read(2, 40, 50, 'a', 1);
  const r = check(m, [write(0, 0, 10, 'a', 1), write(1, 20, 30, 'b', 2), stale]);
  t.equal(r.ok, false, 'a stale read');
  if (r.ok === false) {
    t.equal(r.op, stale, 'the stale read is the operation that could not be placed');
    t.equal(r.key, 'k');
    t.same(r.longest.map((o) => o.input.f), ['write', 'write'], 'after the two writes');
  }
  t.equal(verdict(m, [write(0, 0, 10, 'a', 1), write(1, 20, 30, 'b', 2), read(2, 25, 50, 'a', 1)]), true, 'the same read overlapping the second write');
  const base = write(0, 0, 10, 'a', 1);
  t.equal(verdict(m, [base, cas(1, 20, 30, 1, 'b', { ok: true, version: 2 }), cas(2, 20, 30, 1, 'c', { ok: false })]), true, 'two racing compare-and-sets: one wins');
  t.equal(verdict(m, [base, cas(1, 20, 30, 1, 'b', { ok: true, version: 2 }), cas(2, 20, 30, 1, 'c', { ok: true, version: 3 })]), false, 'a lost update: both win');
  t.equal(verdict(m, [base, cas(1, 20, 30, 1, 'b', { ok: false })]), false, 'a compare-and-set refused at the version it names');
  t.equal(verdict(m, [base, cas(1, 20, 30, 7, 'b', { ok: false })]), true, '... refused at another');
  t.equal(verdict(m, [base, cas(1, 20, 30, 1, 'b', { ok: true, version: 5 }), read(2, 40, 50, 'b', 5)]), true, 'any fresh version number is accepted');
  t.equal(verdict(m, [base, cas(1, 20, 30, 1, 'b', { ok: true, version: 5 }), read(2, 40, 50, 'b', 6)]), false, '... and then reads must agree with it');
  t.equal(verdict(m, [base, write(1, 20, 30, 'b', 1)]), false, 'a write reporting a version the key already had');
  t.equal(verdict(m, [cas(1, 0, 10, 0, 'b', { ok: true, version: 1 })]), false, 'a compare-and-set of an absent key succeeding');
  const again = [base, del(1, 20, 30, true), read(2, 40, 50, null), write(3, 60, 70, 'c', 1), read(2, 80, 90, 'c', 1)];
  t.equal(verdict(m, again), true, 'after a delete, numbering may start again');
  t.equal(verdict(casRegister({ forgetOnDelete: false }), again), false, '... unless versions are never reused');
  t.equal(verdict(m, [base, del(1, 20, 30, true), read(2, 40, 50, 'a', 1)]), false, 'a read of a deleted key');
  t.equal(verdict(m, [del(1, 0, 10, true)]), false, 'deleting an absent key succeeding');
});

t.test('cas register: indeterminate operations', async (t) => {
  const m = casRegister();
  const base = write(0, 0, 10, 'a', 1);
  t.equal(verdict(m, [base, write(1, 20, 0, 'b'), read(2, 30, 40, 'a', 1)]), true, 'a timed-out write that did not take effect');
  t.equal(verdict(m, [base, write(1, 20, 0, 'b'), read(2, 30, 40, 'b', 9), cas(2, 50, 60, 9, 'c', { ok: true, version: 10 })]), true, '... or did, its version first seen by a read');
  t.equal(verdict(m, [base, write(1, 20, 0, 'b'), read(2, 30, 40, 'b', 1)]), false, '... but not with a version the key had');
  t.equal(verdict(m, [base, write(1, 20, 0, 'b'), read(2, 30, 40, 'b', 9), read(3, 50, 60, 'a', 1)]), false, 'once seen, its effect stays');
  t.equal(verdict(m, [base, read(2, 12, 18, 'b', 2), write(1, 20, 0, 'b')]), false, 'it cannot take effect before its call');
  t.equal(verdict(m, [base, cas(1, 20, 0, 1, 'b'), read(2, 30, 40, 'b', 4)]), true, 'a timed-out compare-and-set that took effect');
  t.equal(verdict(m, [base, cas(1, 20, 0, 3, 'b'), read(2, 30, 40, 'b', 4)]), false, '... which it could not have at another version');
  t.equal(verdict(m, [base, lost<RegisterInput, RegisterOutput>(2, { key: 'k', f: 'read' }, 20), read(2, 30, 40, 'a', 1)]), true, 'a timed-out read changes nothing');
});

type LeaseOp = Op<LeaseInput, LeaseOutput>;
const acquire = (owner: string, call: number, ret: number, out?: LeaseOutput, ttlMs = 1000): LeaseOp => (out === undefined ? lost(owner, { res: 'r', f: 'acquire', owner, ttlMs }, call) : done(owner, { res: 'r', f: 'acquire', owner, ttlMs }, call, ret, out));
const release = (owner: string, lease: string, call: number, ret: number, ok: boolean): LeaseOp => done(owner, { res: 'r', f: 'release', owner, lease }, call, ret, { ok });
const fenced = (owner: string, fence: number, call: number, ret: number, ok: boolean): LeaseOp => done(owner, { res: 'r', f: 'fenced-write', owner, fence }, call, ret, { ok });
const grant = (fence: number, lease: string): LeaseOutput => ({ ok: true, fence, lease });

t.test('leases: one holder, increasing fences, expiry', async (t) => {
  const m = leaseModel();
  t.equal(verdict(m, [acquire('A', 0, 10, grant(1, 'LA')), release('A', 'LA', 15, 18, true), acquire('B', 20, 30, grant(2, 'LB'))]), true, 'acquire, release, acquire');
  t.equal(verdict(m, [acquire('A', 0, 10, grant(1, 'LA')), acquire('B', 20, 30, grant(2, 'LB'))]), false, 'two holders at once');
  t.equal(verdict(m, [acquire('A', 0, 10, grant(1, 'LA'), 15), acquire('B', 20, 30, grant(2, 'LB'))]), true, 'the first lease may have expired: 15 ms after its call, before the second returned');
  t.equal(verdict(m, [acquire('A', 0, 10, grant(1, 'LA'), 31), acquire('B', 20, 30, grant(2, 'LB'))]), false, '... not when its TTL runs past the second acquire');
  t.equal(verdict(m, [acquire('A', 0, 10, grant(1, 'LA'), 15), acquire('B', 20, 30, { ok: false })]), true, 'expiry may also not have happened yet');
  t.equal(verdict(m, [acquire('A', 0, 10, grant(1, 'LA'), 50), release('A', 'LA', 20, 30, false)]), false, 'a release refused to the holder before its lease could expire');
  t.equal(verdict(m, [acquire('A', 0, 10, grant(1, 'LA'), 50), release('A', 'LA', 60, 70, false)]), true, '... and after');
  t.equal(verdict(m, [acquire('A', 0, 10, grant(1, 'LA'), 15), acquire('B', 20, 30, grant(2, 'LB')), release('A', 'LA', 40, 50, true)]), false, 'an expired lease cannot be released');
  t.equal(verdict(m, [acquire('A', 0, 10, grant(5, 'LA')), release('A', 'LA', 15, 18, true), acquire('B', 20, 30, grant(3, 'LB'))]), false, 'a fence going backwards');
  t.equal(verdict(m, [acquire('A', 0, 10, grant(5, 'LA')), release('A', 'LA', 15, 18, true), acquire('B', 20, 30, grant(5, 'LB'))]), false, '... or repeated');
  t.equal(verdict(m, [acquire('A', 0, 10, { ok: false })]), false, 'an acquire refused while the resource is free');
  t.equal(verdict(m, [acquire('A', 0, 10, grant(1, 'LA')), release('A', 'LA', 15, 18, true), acquire('B', 20, 30, { ok: false })]), false, '... after its holder released it');
  t.equal(verdict(m, [acquire('A', 0, 10, grant(1, 'LA')), acquire('B', 5, 30, { ok: false })]), true, '... not while someone holds it');
  t.equal(verdict(m, [acquire('A', 0, 10, grant(1, 'LA')), release('A', 'LA', 15, 25, true), acquire('B', 20, 30, { ok: false })]), true, '... or may, when racing the release');
  t.equal(verdict(m, [acquire('A', 0, 10, grant(1, 'LA')), release('B', 'LA', 15, 25, true)]), false, 'a release by someone else');
});

t.test('leases: an owner may hold several; a timed-out acquire granted late holds on', async (t) => {
  const m = leaseModel();
  t.equal(verdict(m, [acquire('A', 0, 10, grant(1, 'LA')), acquire('A', 20, 30, grant(2, 'LA2'))]), true, 'its own lease does not keep an owner from another');
  t.equal(verdict(m, [acquire('A', 0, 10, grant(1, 'LA')), acquire('A', 20, 30, grant(2, 'LA2')), release('A', 'LA', 40, 50, true), acquire('B', 60, 70, grant(3, 'LB'))]), false, 'released one of two, it still holds the resource');
  t.equal(verdict(m, [acquire('A', 0, 10, grant(1, 'LA')), acquire('A', 20, 30, { ok: false })]), false, 'nor is it refused for its own');
  // A acquires and times out (the grant comes late), acquires again, releases that: B is still refused, then A releases the first.
  const late = [acquire('A', 0, 0, undefined, 5000), acquire('A', 100, 110, grant(2, 'LA2')), release('A', 'LA2', 120, 130, true), acquire('B', 140, 150, { ok: false })];
  t.equal(verdict(m, late), true, 'the timed-out acquire may hold the resource still');
  t.equal(verdict(m, [...late, acquire('B', 200, 210, grant(5, 'LB'))]), false, 'and nobody else gets it before its TTL');
  t.equal(verdict(m, [...late, acquire('B', 5200, 5210, grant(5, 'LB'))]), true, 'after it, someone may');
});

t.test('leases: fenced writes and indeterminate acquires', async (t) => {
  const m = leaseModel();
  const two = [acquire('A', 0, 10, grant(1, 'LA'), 15), acquire('B', 20, 30, grant(2, 'LB'))];
  t.equal(verdict(m, [...two, fenced('B', 2, 40, 50, true), fenced('A', 1, 40, 50, false)]), true, 'the newest fence writes, an older one is refused');
  t.equal(verdict(m, [...two, fenced('A', 1, 40, 50, true)]), false, 'an older fence writing while the newer lease is live');
  t.equal(verdict(m, [...two, fenced('B', 2, 40, 50, false)]), false, 'the newest fence refused');
  t.equal(verdict(m, [...two, fenced('A', 1, 15, 25, true)]), true, 'the older fence racing the grant of the newer');
  t.equal(verdict(m, [...two, fenced('B', 2, 40, 50, true), release('B', 'LB', 60, 70, true), fenced('A', 1, 80, 90, true)]), false, 'an older fence writing after a newer one wrote');
  t.equal(verdict(m, [...two, release('B', 'LB', 60, 70, true), fenced('A', 1, 80, 90, true)]), true, '... but not superseded when the newer lease is gone unused');
  t.equal(verdict(m, [...two, release('B', 'LB', 60, 70, true), fenced('A', 1, 80, 90, false)]), false, '... then refusing it is wrong');
  t.equal(verdict(m, [acquire('A', 0, 10, grant(1, 'LA'), 50), acquire('A', 20, 30, grant(2, 'LA2'), 100), fenced('A', 1, 60, 70, true)]), false, 'a smaller fence than a live lease of the same owner');
  t.equal(verdict(m, [acquire('A', 0, 10, grant(1, 'LA'), 50), acquire('A', 20, 30, grant(2, 'LA2'), 40), fenced('A', 1, 60, 70, true)]), true, '... not once that lease may have expired');
  t.equal(verdict(m, [fenced('A', 1, 0, 10, true), fenced('A', 0, 20, 30, false)]), true, 'with no lease: refuse a token smaller than one seen');
  t.equal(verdict(m, [fenced('A', 1, 0, 10, true), fenced('A', 0, 20, 30, true)]), false, '... never accept it');
  t.equal(verdict(m, [acquire('A', 0, 0), acquire('B', 10, 20, { ok: false })]), true, 'a timed-out acquire may have been granted');
  t.equal(verdict(m, [acquire('A', 0, 0), fenced('C', 6, 30, 40, false)]), true, '... and its unknown fence may supersede a write');
  const held = [acquire('A', 0, 0), acquire('B', 10, 20, { ok: false })];
  t.equal(verdict(m, [...held, acquire('B', 30, 40, grant(8, 'LB'))]), false, '... and, shown granted by a refusal, is still held');
  t.equal(verdict(m, [...held, release('A', 'LA', 25, 28, true), acquire('B', 30, 40, grant(8, 'LB'))]), true, '... until released');
  t.equal(verdict(m, [lost<LeaseInput, LeaseOutput>('A', { res: 'r', f: 'fenced-write', owner: 'A', fence: 9 }, 0), fenced('B', 5, 20, 30, false)]), true, 'a timed-out fenced write may have landed and superseded another');
  t.equal(verdict(m, [fenced('B', 5, 20, 30, false)]), false, '... without it, nothing did');
});

t.test('leases: the edit guard (PreToolUse) and its auto-leases', async (t) => {
  const m = leaseModel();
  const guard = (owner: string, call: number, ret: number, ok?: boolean): LeaseOp => (ok === undefined ? lost(owner, { res: 'r', f: 'guard', owner, ttlMs: 100 }, call) : done(owner, { res: 'r', f: 'guard', owner, ttlMs: 100 }, call, ret, { ok }));
  t.equal(verdict(m, [guard('A', 0, 10, true), guard('B', 20, 30, false), acquire('C', 40, 50, { ok: false })]), true, 'A allowed (auto-leased), B denied, C refused the lease');
  t.equal(verdict(m, [guard('A', 0, 10, true), acquire('C', 40, 50, grant(1, 'LC'))]), false, 'a lease granted while an edit holds the file');
  t.equal(verdict(m, [guard('A', 0, 10, true), acquire('C', 140, 150, grant(1, 'LC'))]), true, '... not once its idle lifetime may have run out');
  t.equal(verdict(m, [guard('A', 0, 10, true), guard('A', 80, 90, true), acquire('C', 140, 150, grant(1, 'LC'))]), false, 'each edit renews it');
  t.equal(verdict(m, [guard('A', 0, 10, true), guard('B', 20, 30, true)]), false, 'two agents allowed one file at once');
  t.equal(verdict(m, [guard('B', 20, 30, false)]), false, 'an edit denied while nobody holds the file');
  t.equal(verdict(m, [acquire('C', 0, 10, grant(1, 'LC')), guard('A', 20, 30, false), release('C', 'LC', 40, 50, true), guard('A', 60, 70, true)]), true, 'denied while leased, allowed once released');
  t.equal(verdict(m, [guard('A', 0, 0), guard('B', 20, 30, false)]), true, 'an edit hook without an answer (or denied as not confirmed) may have auto-leased');
});

type QOp = Op<QueueInput, QueueOutput>;
const add = (task: string, call: number, ret: number): QOp => done('p', { queue: 'q', f: 'add', task }, call, ret, { ok: true });
const claim = (who: string, call: number, ret: number, out?: QueueOutput): QOp => (out === undefined ? lost(who, { queue: 'q', f: 'claim', who }, call) : done(who, { queue: 'q', f: 'claim', who }, call, ret, out));
const complete = (who: string, task: string, call: number, ret: number, ok: boolean): QOp => done(who, { queue: 'q', f: 'complete', task, who }, call, ret, { ok });

t.test('task queue: exactly-once claims', async (t) => {
  const m = queueModel();
  t.equal(verdict(m, [add('t1', 0, 10), add('t2', 0, 10), claim('A', 20, 30, { task: 't1' }), claim('B', 20, 30, { task: 't2' })]), true, 'two tasks, two claimers');
  t.equal(verdict(m, [add('t1', 0, 10), add('t2', 0, 10), claim('A', 20, 30, { task: 't1' }), claim('B', 20, 30, { task: 't1' })]), false, 'a double claim');
  t.equal(verdict(m, [add('t1', 0, 10), claim('A', 20, 30, { task: 't1' }), complete('A', 't1', 40, 50, true), claim('B', 60, 70, { task: 't1' })]), false, 'a completed task claimed again');
  t.equal(verdict(m, [add('t1', 0, 10), claim('A', 20, 30, { none: true })]), false, '"none" while a task was ready');
  t.equal(verdict(m, [add('t1', 5, 15), claim('A', 0, 10, { none: true })]), true, '... not while it was being added');
  t.equal(verdict(m, [add('t1', 0, 10), claim('A', 20, 30, { task: 't1' }), claim('B', 40, 50, { none: true })]), true, '"none" once the only task is claimed');
  t.equal(verdict(m, [claim('A', 20, 30, { task: 't9' })]), false, 'a claim of a task never added');
  t.equal(verdict(m, [add('t1', 0, 10), claim('A', 20, 30, { task: 't1' }), complete('B', 't1', 40, 50, true)]), false, 'completed by someone else than its claimer');
  t.equal(verdict(m, [add('t1', 0, 10), claim('A', 20, 30, { task: 't1' }), complete('B', 't1', 40, 50, false), complete('A', 't1', 40, 50, true)]), true, '... refused to them, done by the claimer');
  t.equal(verdict(m, [add('t1', 0, 10), claim('A', 20, 30, { task: 't1' }), complete('A', 't1', 40, 50, false)]), false, 'refused to its claimer');
  const ready = [add('t1', 0, 10), add('t2', 0, 10), claim('B', 30, 40, { task: 't2' }), claim('C', 50, 60, { none: true })];
  t.equal(verdict(m, [...ready, claim('A', 20, 0)]), true, 'a timed-out claim may have taken the other task');
  t.equal(verdict(m, ready), false, '... without it the queue was not empty');
  t.equal(verdict(m, [lost<QueueInput, QueueOutput>('p', { queue: 'q', f: 'add', task: 't3' }, 0), claim('A', 20, 30, { task: 't3' })]), true, 'a timed-out add that took effect');
});

t.test('checker: Porcupine’s register examples, zero-duration operations, timeouts, partitions', async (t) => {
  // The examples of Porcupine's TestRegisterModel and TestZeroDuration (from MIT 6.824's 2017 quiz 2).
  const m = kvModel();
  const put = (c: number, v: string, call: number, ret: number) => done<KvInput, KvOutput>(c, { key: 'x', f: 'put', value: v }, call, ret, {});
  const get = (c: number, v: string, call: number, ret: number) => done<KvInput, KvOutput>(c, { key: 'x', f: 'get' }, call, ret, { value: v });
  t.equal(verdict(m, [put(0, '100', 0, 100), get(1, '100', 25, 75), get(2, '', 30, 60)]), true, 'register example 1');
  t.equal(verdict(m, [put(0, '200', 0, 100), get(1, '200', 10, 30), get(2, '', 40, 90)]), false, 'register example 2');
  t.equal(verdict(m, [put(0, '100', 0, 100), get(1, '100', 25, 75), get(2, '', 30, 30), get(3, '', 30, 30)]), true, 'zero duration, linearizable');
  t.equal(verdict(m, [put(0, '200', 0, 100), get(1, '200', 10, 10), get(2, '200', 10, 10), get(3, '', 40, 90)]), false, 'zero duration, not linearizable');
  t.equal(verdict(m, [put(0, 'a', 0, 10), get(1, '', 0, 0)]), true, 'a zero-duration read at the write’s call');
  t.throws(() => check(m, [put(0, 'a', 10, 5)]), /returns \(5\) before its call \(10\)/, 'a return before its call is refused');
  const keyed = [put(0, 'a', 0, 10), done<KvInput, KvOutput>(1, { key: 'y', f: 'get' }, 20, 30, { value: 'zz' })];
  const r = check(m, keyed);
  t.same(r.ok === false && { key: r.key, op: r.op }, { key: 'y', op: keyed[1] }, 'the failing partition and operation are reported');
  t.same(check(m, keyed), r, 'deterministic');
  // 10,000 operations in one partition, in sequence: the search must not recurse per operation.
  const long = Array.from({ length: 10_000 }, (_, i) => (i % 2 === 0 ? put(0, `v${i}`, 2 * i, 2 * i + 1) : get(1, `v${i - 1}`, 2 * i, 2 * i + 1)));
  t.equal(verdict(m, long), true, 'a 10,000-operation single-key history');
  t.equal(verdict(m, long.concat(get(2, 'v0', 30_000, 30_001))), false, '... with a stale read at its end');
  t.equal(check(m, long, { timeoutMs: 0 }).ok, 'unknown', 'a timeout answers unknown');
});

/** Porcupine's test_data/kv format: one Jepsen op map per line, times are line numbers. */
function parseKv(file: string): Op<KvInput, KvOutput>[] {
  const ops: Op<KvInput, KvOutput>[] = [];
  const pending = new Map<number, Op<KvInput, KvOutput>>();
  fs.readFileSync(repoPath('test', 'fixtures', 'linearizability', 'kv', file), 'utf8')
    .split('\n')
    .forEach((line, i) => {
      const m = /^\{:process (\d+), :type :(invoke|ok), :f :(get|put|append), :key "(.*)", :value (nil|"(.*)")\}$/.exec(line);
      if (!m) return;
      const proc = Number(m[1]);
      if (m[2] === 'invoke') {
        const input: KvInput = m[3] === 'get' ? { key: m[4], f: 'get' } : { key: m[4], f: m[3] as 'put' | 'append', value: m[6] };
        const op: Op<KvInput, KvOutput> = { client: proc, input, call: i, ret: Infinity };
        pending.set(proc, op);
        ops.push(op);
      } else {
        const op = pending.get(proc)!;
        pending.delete(proc);
        op.ret = i;
        op.output = m[3] === 'get' ? { value: m[6] } : {};
      }
    });
  return ops;
}

/** Porcupine's test_data/jepsen etcd logs: invoke, ok, fail, info (timed out: indeterminate); times are line numbers. */
function parseEtcd(file: string): Op<ValueRegisterInput, ValueRegisterOutput>[] {
  const ops: Op<ValueRegisterInput, ValueRegisterOutput>[] = [];
  const pending = new Map<number, Op<ValueRegisterInput, ValueRegisterOutput>>();
  fs.readFileSync(repoPath('test', 'fixtures', 'linearizability', 'jepsen', file), 'utf8')
    .split('\n')
    .forEach((line, i) => {
      const m = /^INFO\s+jepsen\.util\s+-\s+(\d+)\s+:(invoke|ok|fail|info)\s+:(read|write|cas)\s+(.*)$/.exec(line);
      if (!m) return;
      const [proc, type, f, arg] = [Number(m[1]), m[2], m[3], m[4].trim()];
      if (type === 'invoke') {
        const pair = /^\[(\d+) (\d+)\]$/.exec(arg);
        const input: ValueRegisterInput = f === 'read' ? { f } : f === 'write' ? { f, value: Number(arg) } : { f: 'cas', from: Number(pair![1]), to: Number(pair![2]) };
        const op: Op<ValueRegisterInput, ValueRegisterOutput> = { client: proc, input, call: i, ret: Infinity };
        pending.set(proc, op);
        ops.push(op);
        return;
      }
      const op = pending.get(proc)!;
      pending.delete(proc);
      if (type === 'info' || arg === ':timed-out') return;
      op.ret = i;
      op.output = f === 'read' ? { value: arg === 'nil' ? null : Number(arg) } : f === 'cas' ? { ok: type === 'ok' } : {};
    });
  return ops;
}

t.test('Porcupine’s published example histories get Porcupine’s verdicts', async (t) => {
  for (const [file, ok] of [['c01-ok.txt', true], ['c01-bad.txt', false], ['c10-ok.txt', true], ['c10-bad.txt', false]] as const) {
    const h = parseKv(file);
    t.ok(h.length > 30, `${file}: parsed`);
    t.equal(verdict(kvModel(), h), ok, `kv ${file}`);
  }
  for (const [file, ok] of [['etcd_000.log', false], ['etcd_001.log', false], ['etcd_002.log', true], ['etcd_005.log', true], ['etcd_007.log', true]] as const) {
    const h = parseEtcd(file);
    t.ok(h.length > 50 && h.some((o) => o.ret === Infinity), `${file}: parsed, with timed-out operations`);
    t.equal(verdict(valueRegister(), h), ok, `jepsen ${file}`);
  }
});

/** A deterministic PRNG (mulberry32) for the generated histories. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let x = Math.imul(s ^ (s >>> 15), s | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 2 ** 32;
  };
}

/**
 * Clients against an in-memory versioned store: each operation takes effect at a random point
 * between its call and its return (latencies 1–20 ms), a compare-and-set names the version the
 * key had at its call, and a few operations time out (taking effect or not). Returns the history
 * and, for each write, the key's version before it (with the operation that made it).
 */
function generate(seed: number, clients: number, perClient: number, keys: number) {
  const rnd = prng(seed);
  type Version = { value: string | null; version: number; by?: Gen };
  type Gen = { op: RegOp; effect: number; effective: boolean; before?: Version };
  const gens: Gen[] = [];
  for (let c = 0; c < clients; c++) {
    let now = rnd() * 5;
    for (let i = 0; i < perClient; i++) {
      const latency = 1 + rnd() * 19;
      const key = `k${Math.floor(rnd() * keys)}`;
      const x = rnd();
      const input: RegisterInput = x < 0.5 ? { key, f: 'read' } : x < 0.75 ? { key, f: 'write', value: `${c}.${i}` } : { key, f: 'cas', expect: 0, value: `${c}.${i}` };
      const timedOut = rnd() < 0.005;
      gens.push({ op: { client: c, input, call: now, ret: timedOut ? Infinity : now + latency }, effect: now + rnd() * latency, effective: !timedOut || rnd() < 0.5 });
      now += latency + rnd() * 3;
    }
  }
  const store = new Map<string, Version>();
  const events = gens.flatMap((g) => [{ at: g.op.call, g, call: true }, { at: g.effect, g, call: false }]).sort((a, b) => a.at - b.at || Number(b.call) - Number(a.call));
  for (const { g, call } of events) {
    const i = g.op.input;
    const cur = store.get(i.key) ?? { value: null, version: 0 };
    if (call) {
      if (i.f === 'cas') i.expect = cur.version;
      continue;
    }
    if (!g.effective) continue;
    let out: RegisterOutput;
    if (i.f === 'read') out = { value: cur.value, version: cur.version };
    else if (i.f === 'write' || (i.f === 'cas' && cur.version === i.expect && cur.value !== null)) {
      g.before = cur;
      store.set(i.key, { value: i.value, version: cur.version + 1, by: g });
      out = i.f === 'write' ? { version: cur.version + 1 } : { ok: true, version: cur.version + 1 };
    } else out = { ok: false };
    if (g.op.ret !== Infinity) g.op.output = out;
  }
  return gens;
}

t.test('10,000 generated operations over 100 keys check in well under a second', async (t) => {
  const gens = generate(7, 20, 500, 100);
  const history = gens.map((g) => g.op);
  t.equal(history.length, 10_000);
  t.ok(history.some((o) => o.ret === Infinity) && history.some((o) => o.input.f === 'cas' && (o.output as { ok?: boolean } | undefined)?.ok === true), 'with timeouts and successful compare-and-sets');
  const cpuMs = (since: NodeJS.CpuUsage): number => {
    const u = process.cpuUsage(since);
    return (u.user + u.system) / 1000;
  };
  let t0 = process.cpuUsage();
  t.same(check(casRegister(), history), { ok: true }, 'linearizable');
  const okMs = cpuMs(t0);
  // A read after a completed write, made to answer what the key held before it: a version that a
  // completed operation made (one made by a timed-out write could be linearized later, legitimately).
  const writes = gens.filter((g) => g.op.ret !== Infinity && g.before?.by && g.before.by.op.ret !== Infinity);
  const target = gens.find((g) => g.op.input.f === 'read' && g.op.output && writes.some((w) => w.op.input.key === g.op.input.key && w.op.ret < g.op.call));
  const w = writes.filter((w) => w.op.input.key === target!.op.input.key && w.op.ret < target!.op.call).pop()!;
  const stale: RegOp = { ...target!.op, output: { value: w.before!.value, version: w.before!.version } };
  t0 = process.cpuUsage();
  const r = check(casRegister(), history.map((o) => (o === target!.op ? stale : o)));
  const badMs = cpuMs(t0);
  t.equal(r.ok, false, 'one stale read makes it not linearizable');
  if (r.ok === false) {
    t.equal(r.key, stale.input.key, 'in the stale read’s key');
    t.equal(r.op, stale, 'the stale read is reported');
    t.notOk(r.longest.includes(stale), 'and is not in the longest linearizable order');
  }
  // Its speed is reported, not asserted: the machine is shared and noisy.
  t.comment(`checked in ${okMs.toFixed(0)} ms and ${badMs.toFixed(0)} ms of CPU`);
});

t.test('timed-out writes and claims do not multiply the search', async (t) => {
  // A client cut off from the database times out 40 writes while another goes on writing and
  // reading: each lost write may have landed anywhere after its call, 2^40 placements, and a stale
  // read at the end makes the search try them all before it may say no.
  const h: RegOp[] = [];
  for (let i = 0; i < 40; i++) h.push(write(9, i * 10, Infinity, `lost${i}`));
  for (let i = 0; i < 60; i++) h.push(write(1, i * 10 + 1, i * 10 + 4, `v${i}`, i + 1), read(2, i * 10 + 5, i * 10 + 8, `v${i}`, i + 1));
  t.equal(check(casRegister(), h, { timeoutMs: 30_000 }).ok, true, 'linearizable: every lost write left out');
  const stale = read(2, 700, 710, 'v3', 4);
  const r = check(casRegister(), [...h, stale], { timeoutMs: 30_000 });
  t.equal(r.ok, false, 'a stale read after them is found, the search not given up');
  if (r.ok === false) t.equal(r.op, stale, 'and reported');
  const q: Op<QueueInput, QueueOutput>[] = [];
  const qop = (c: string, input: QueueInput, call: number, ret: number, output?: QueueOutput): Op<QueueInput, QueueOutput> => (output === undefined ? lost(c, input, call) : done(c, input, call, ret, output));
  for (let i = 0; i < 30; i++) q.push(qop('a', { queue: 'q', f: 'add', task: `t${i}` }, i * 10, i * 10 + 2, { ok: true }));
  for (let i = 0; i < 20; i++) q.push(qop(`x${i}`, { queue: 'q', f: 'claim', who: `x${i}` }, 300 + i, Infinity));
  for (let i = 0; i < 10; i++) q.push(qop('b', { queue: 'q', f: 'claim', who: 'b' }, 400 + i * 10, 405 + i * 10, { task: `t${29 - i}` }));
  q.push(qop('b', { queue: 'q', f: 'claim', who: 'b' }, 600, 605, { none: true }));
  t.equal(check(queueModel(), q, { timeoutMs: 30_000 }).ok, true, 'claims: 20 timed-out claims took the 20 tasks nobody else got');
  // Adds lost while claims find none: one landed late (a claim got its task), the others never showed.
  for (let i = 0; i < 16; i++) q.push(qop('a', { queue: 'q', f: 'add', task: `late${i}` }, 610 + i, Infinity));
  for (let i = 0; i < 40; i++) q.push(qop('b', { queue: 'q', f: 'claim', who: 'b' }, 640 + i * 10, 645 + i * 10, { none: true }));
  q.push(qop('b', { queue: 'q', f: 'claim', who: 'b' }, 1050, 1055, { task: 'late15' }));
  t.equal(check(queueModel(), q, { timeoutMs: 30_000 }).ok, true, 'claims: a lost add seen late, 15 never seen');
  q.push(qop('b', { queue: 'q', f: 'claim', who: 'b' }, 1100, 1105, { task: 't29' }));
  t.equal(check(queueModel(), q, { timeoutMs: 30_000 }).ok, false, 'a task claimed twice is found');
});

t.test('event streams: duplicates, reorders, gaps and phantoms', async (t) => {
  const pubs = (ids: (number | undefined)[]): Publish[] => ids.map((id, i) => ({ client: 0, call: i * 10, ret: i * 10 + 5, id }));
  const one = (resumeAfter: number | null, received: number[]): Subscriber => ({ name: 's', sessions: [{ resumeAfter, received }] });
  const kinds = (p: Publish[], s: Subscriber[]) => checkStreams(p, s).map((a) => `${a.kind}:${'id' in a ? a.id : ''}`);
  const five = pubs([1, 2, 3, 4, 5]);
  t.same(kinds(five, [one(null, [1, 2, 3, 4, 5])]), [], 'everything, once, in order');
  t.same(kinds(five, [one(null, [3, 4, 5])]), [], 'a live subscriber owes nothing before its first event');
  t.same(kinds(five, [one(null, [1, 2, 2, 3, 4, 5])]), ['duplicate:2'], 'a duplicate');
  t.same(kinds(five, [one(null, [1, 3, 2, 4, 5])]), ['reorder:2'], 'a reorder');
  t.same(kinds(five, [one(null, [1, 2, 4, 5])]), ['gap:3'], 'a gap');
  t.same(kinds(five, [one(1, [3, 4])]), ['gap:2'], 'a gap right after the resume cursor');
  t.same(kinds(five, [one(null, [1, 2, 3, 4, 5, 9])]), ['phantom:9'], 'a phantom');
  t.same(kinds(pubs([1, 2, 3, 4, 5, undefined]), [one(null, [1, 2, 3, 4, 5, 9])]), [], '... unless a publish timed out');
  t.same(kinds(pubs([1, 2, 3, 4, 5, undefined]), [one(null, [1, 2, 3, 4, 5, 8, 9])]), ['phantom:8', 'phantom:9'], '... one publish for two ids');
  t.same(kinds(pubs([1, 2, 2]), [one(null, [1, 2])]), ['reused-id:2'], 'one id acknowledged twice');
  const resumed = (cursor: number, second: number[]): Subscriber => ({ name: 's', sessions: [{ resumeAfter: null, received: [1, 2, 3] }, { resumeAfter: cursor, received: second }] });
  t.same(kinds(five, [resumed(3, [4, 5])]), [], 'a reconnect resuming where it stopped');
  t.same(kinds(five, [resumed(2, [3, 4, 5])]), [], 'resuming from further back gets the rest again');
  t.same(kinds(five, [resumed(3, [3, 4, 5])]), ['duplicate:3'], 'an event at the cursor sent again');
  t.same(kinds(five, [resumed(3, [5])]), ['gap:4'], 'an event lost across the reconnect');
  const a = checkStreams(five, [one(null, [1, 2, 4, 5])])[0];
  t.match(describeAnomaly(a), /s never received acknowledged 3/, 'anomalies print');
});
