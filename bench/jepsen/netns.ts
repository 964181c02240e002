/**
 * The network a Jepsen-style run makes for itself: one network namespace per member (PostgreSQL,
 * each node, each group of clients), each with a veth whose other end is on one bridge in a
 * namespace of its own. Addresses are only on those veths (10.88.0.0/24), nothing is routed out,
 * and `remove()` deletes every namespace (and with them every veth) — also those a failed run
 * left, found by their prefix. A partition is a blackhole rule at the receiving end: `cut(a, b)`
 * silently drops what `a` sends to `b` — a's connections time out, as across a real partition,
 * rather than fail at once (one way: `b`'s packets still reach `a`, though its replies do not come
 * back); `isolate` cuts both ways.
 */
import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { onCleanup } from '../lib/cleanup.js';

/** Every namespace a run makes is named with this prefix (and removed by it). */
const PREFIX = 'koorj-';
const SUBNET = '10.88.0';
const SWITCH = `${PREFIX}sw`;

const ip = (...args: string[]): string => execFileSync('ip', args, { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'pipe'] });

/** Why this machine cannot make the network, or null when it can (root, iproute2, namespaces). */
export function netnsUnavailable(): string | null {
  if (process.getuid?.() !== 0) return 'network namespaces need root';
  try {
    ip('netns', 'add', `${PREFIX}probe`);
    ip('netns', 'del', `${PREFIX}probe`);
    return null;
  } catch (e) {
    return `ip netns: ${(e as Error).message.split('\n')[0]}`;
  }
}

/** Deletes every namespace of a run (this one's or one a killed run left). */
export function removeNetns(): void {
  let names: string[] = [];
  try {
    names = ip('netns', 'list')
      .split('\n')
      .map((l) => l.split(' ')[0]!)
      .filter((n) => n.startsWith(PREFIX));
  } catch {
    return;
  }
  for (const n of names) {
    try {
      ip('netns', 'del', n);
    } catch {
      // gone meanwhile
    }
  }
}

export class Net {
  private readonly members = new Map<string, number>();
  /** Blackhole rules in place: the member `to` → the addresses it drops packets from. */
  private readonly cuts = new Map<string, Set<string>>();
  private unregister = () => {};

  /** A network with `names` on it, in that order from 10.88.0.2. */
  static make(names: readonly string[]): Net {
    removeNetns();
    const net = new Net();
    net.unregister = onCleanup(removeNetns);
    try {
      ip('netns', 'add', SWITCH);
      ip('-n', SWITCH, 'link', 'add', 'br0', 'type', 'bridge');
      ip('-n', SWITCH, 'link', 'set', 'br0', 'up');
      names.forEach((n, i) => net.join(n, i + 2));
    } catch (e) {
      removeNetns();
      throw e;
    }
    return net;
  }

  private join(name: string, host: number): void {
    const ns = this.ns(name);
    ip('netns', 'add', ns);
    ip('-n', ns, 'link', 'set', 'lo', 'up');
    // The local table is looked up first (rule 0), before any rule could drop what arrives: moved after the cuts' rules.
    ip('-n', ns, 'rule', 'add', 'priority', '200', 'lookup', 'local');
    ip('-n', ns, 'rule', 'del', 'priority', '0', 'lookup', 'local');
    // Made in the member's namespace, the peer end moved to the switch.
    ip('-n', ns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', `p${host}`);
    ip('-n', ns, 'link', 'set', `p${host}`, 'netns', SWITCH);
    ip('-n', ns, 'addr', 'add', `${SUBNET}.${host}/24`, 'dev', 'eth0');
    ip('-n', ns, 'link', 'set', 'eth0', 'up');
    ip('-n', SWITCH, 'link', 'set', `p${host}`, 'master', 'br0');
    ip('-n', SWITCH, 'link', 'set', `p${host}`, 'up');
    this.members.set(name, host);
  }

  /** The namespace of a member. */
  ns(name: string): string {
    return `${PREFIX}${name}`;
  }

  /** A member's address. */
  addr(name: string): string {
    const h = this.members.get(name);
    if (h === undefined) throw new Error(`no member ${name}`);
    return `${SUBNET}.${h}`;
  }

  /** A process in a member's namespace (`ip netns exec`). */
  spawn(name: string, cmd: string, args: readonly string[], opts: SpawnOptions = {}): ChildProcess {
    return spawn('ip', ['netns', 'exec', this.ns(name), cmd, ...args], opts);
  }

  /** What `from` sends to `to` is dropped (silently, on arrival) from now on. */
  cut(from: string, to: string): void {
    const src = this.addr(from);
    const set = this.cuts.get(to) ?? new Set<string>();
    if (set.has(src)) return;
    ip('-n', this.ns(to), 'rule', 'add', 'from', src, 'blackhole', 'priority', '100');
    set.add(src);
    this.cuts.set(to, set);
  }

  /** `a` and `b` cannot reach each other. */
  isolate(a: string, b: string): void {
    this.cut(a, b);
    this.cut(b, a);
  }

  /** Every cut undone. */
  heal(): void {
    for (const [to, srcs] of this.cuts) for (const src of srcs) ip('-n', this.ns(to), 'rule', 'del', 'from', src, 'blackhole', 'priority', '100');
    this.cuts.clear();
  }

  /** The cuts in place, as `from→to` pairs of member names. */
  cutsNow(): string[] {
    const byAddr = new Map([...this.members].map(([n, h]) => [`${SUBNET}.${h}`, n]));
    return [...this.cuts].flatMap(([to, srcs]) => [...srcs].map((s) => `${byAddr.get(s)}→${to}`));
  }

  remove(): void {
    this.cuts.clear();
    removeNetns();
    this.unregister();
  }
}
