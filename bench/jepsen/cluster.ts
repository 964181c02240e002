/**
 * The system under test of a Jepsen-style run, in the run's own network (netns.ts): PostgreSQL in
 * namespace `pg`, koor-server nodes in `n1`… (or one node on its embedded SQLite, `sqlite: true`), each with a clock the nemesis can skew (libfaketime,
 * read again at every call: `skew(node, '+90s')`; the monotonic clock is left alone, as a real
 * skewed wall clock would be), and the faults the soak uses: SIGKILL and restart on the same
 * address, SIGSTOP … SIGCONT, a PostgreSQL restart.
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sleep } from '../lib/async.js';
import { onCleanup, stopChild, trackChild } from '../lib/cleanup.js';
import { postgresBinDir } from '../lib/postgres.js';
import { KOOR_MAIN_JS } from '../lib/suite.js';
import type { Net } from './netns.js';

const FAKETIME_LIB = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';
/** PostgreSQL's port: a run of its own (a killed run's server, if one is left, holds shared memory keyed by its port). */
const PG_PORT = 20_000 + Math.floor(Math.random() * 20_000);
/** Where a run keeps PostgreSQL's data and the nodes' (a killed run's dir is found by it, its server stopped). */
const DIR_PREFIX = 'koorj-';
const KOOR_PORT = 9800;
/** The nodes' --auto-lease-idle: short, so that the edit guard's auto-leases come and go within a run. */
export const AUTO_LEASE_IDLE_MS = 4000;

/** Why this machine cannot run the cluster, or null. */
export function clusterUnavailable(): string | null {
  if (!postgresBinDir()) return 'PostgreSQL server binaries not found (apt-get install postgresql)';
  if (!fs.existsSync(FAKETIME_LIB)) return 'libfaketime not found (apt-get install faketime)';
  return null;
}

/** The PostgreSQL servers and dirs a killed run left: stopped, removed. */
function stopLeftovers(bin: string): void {
  for (const d of fs.readdirSync(os.tmpdir())) {
    if (!d.startsWith(DIR_PREFIX)) continue;
    const dir = path.join(os.tmpdir(), d);
    if (fs.existsSync(path.join(dir, 'pg', 'postmaster.pid'))) {
      try {
        execFileSync('runuser', ['-u', 'postgres', '--', path.join(bin, 'pg_ctl'), '-D', path.join(dir, 'pg'), '-m', 'immediate', '-w', 'stop'], { stdio: 'ignore', timeout: 60_000 });
      } catch {
        // not running
      }
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

class KoorProc {
  child: ChildProcess | null = null;
  out = '';
  constructor(
    readonly name: string,
    readonly url: string,
    private readonly launch: () => ChildProcess,
  ) {}

  async start(): Promise<void> {
    this.out = '';
    const c = this.launch();
    trackChild(c);
    this.child = c;
    const keep = (d: Buffer) => {
      this.out = (this.out + d.toString()).slice(-32_768);
    };
    c.stdout?.on('data', keep);
    c.stderr?.on('data', keep);
    const deadline = Date.now() + 30_000;
    while (!/"api":"10\.88\.0\.\d+:\d+"/.test(this.out)) {
      if (c.exitCode !== null || c.signalCode !== null) throw new Error(`${this.name} exited before listening:\n${this.out.slice(-2000)}`);
      if (Date.now() > deadline) throw new Error(`${this.name} did not start:\n${this.out.slice(-2000)}`);
      await sleep(50);
    }
  }

  signal(sig: NodeJS.Signals): void {
    this.child?.kill(sig);
  }

  async stop(): Promise<void> {
    if (this.child) await stopChild(this.child, 5000);
    this.child = null;
  }
}

export class Cluster {
  readonly nodes: KoorProc[] = [];
  private readonly clockFiles = new Map<string, string>();
  private pgStart: string[] = [];
  private unregister = () => {};

  private constructor(
    private readonly net: Net,
    private readonly dir: string,
    private readonly pgData: string,
  ) {}

  /** PostgreSQL, then `nodes` koor-server nodes on it (members `pg`, `n1`…, made by the caller); with `sqlite`, one node on its own SQLite file. */
  static async start(net: Net, nodes: number, opts: { sqlite?: boolean } = {}): Promise<Cluster> {
    const bin = postgresBinDir()!;
    stopLeftovers(bin);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), DIR_PREFIX));
    fs.chmodSync(dir, 0o755);
    const data = path.join(dir, 'pg');
    fs.mkdirSync(data, { mode: 0o700 });
    execFileSync('chown', ['-R', 'postgres:postgres', dir]);
    const c = new Cluster(net, dir, data);
    // Interrupted (SIGINT, SIGTERM, an exit), the children are killed by the cleanup registry; PostgreSQL runs as another user.
    c.unregister = onCleanup(() => c.stopPostgres());
    try {
      if (!opts.sqlite) {
        execFileSync('runuser', ['-u', 'postgres', '--', path.join(bin, 'initdb'), '-D', data, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--no-instructions'], { stdio: 'ignore', timeout: 120_000 });
        fs.appendFileSync(path.join(data, 'pg_hba.conf'), 'host all all 10.88.0.0/24 trust\n');
        c.pgStart = ['-l', path.join(dir, 'pg.log'), '-o', `-p ${PG_PORT} -k ${dir} -c listen_addresses=${net.addr('pg')} -c fsync=on -c synchronous_commit=on -c max_connections=200`, '-w', '-t', '60', 'start'];
        c.pgCtl(c.pgStart);
      }
      const db = opts.sqlite ? [] : ['--database', `postgres://postgres@${net.addr('pg')}:${PG_PORT}/postgres`];
      for (let i = 1; i <= nodes; i++) {
        const name = `n${i}`;
        const clock = path.join(dir, `${name}.clock`);
        fs.writeFileSync(clock, '+0');
        c.clockFiles.set(name, clock);
        const nodeDir = path.join(dir, name);
        fs.mkdirSync(nodeDir);
        const args = ['--bind', `${net.addr(name)}:${KOOR_PORT}`, '--dashboard-bind', '', '--data-dir', nodeDir, ...db, '--rate-limit', '0', '--event-retention', '5000000', '--auto-lease-idle', `${AUTO_LEASE_IDLE_MS}ms`];
        const env = [`LD_PRELOAD=${FAKETIME_LIB}`, `FAKETIME_TIMESTAMP_FILE=${clock}`, 'FAKETIME_NO_CACHE=1', 'FAKETIME_DONT_FAKE_MONOTONIC=1'];
        const proc = new KoorProc(name, `http://${net.addr(name)}:${KOOR_PORT}`, () => net.spawn(name, 'env', [...env, process.execPath, KOOR_MAIN_JS, ...args], { cwd: nodeDir, stdio: ['ignore', 'pipe', 'pipe'] }));
        c.nodes.push(proc);
        await proc.start();
      }
    } catch (e) {
      await c.stop();
      throw e;
    }
    return c;
  }

  private pgCtl(args: string[]): void {
    try {
      execFileSync('ip', ['netns', 'exec', this.net.ns('pg'), 'runuser', '-u', 'postgres', '--', path.join(postgresBinDir()!, 'pg_ctl'), '-D', this.pgData, ...args], { stdio: 'pipe', timeout: 120_000 });
    } catch (e) {
      const log = path.join(this.dir, 'pg.log');
      throw new Error(`pg_ctl ${args.at(-1)}: ${(e as { stderr?: Buffer }).stderr?.toString().trim() ?? ''}\n${fs.existsSync(log) ? fs.readFileSync(log, 'utf8').slice(-800) : ''}`);
    }
  }

  node(name: string): KoorProc {
    return this.nodes.find((n) => n.name === name)!;
  }

  /** The node's wall clock set off by `offset` (libfaketime's "+90s", "-2m", "+0"). */
  skew(name: string, offset: string): void {
    fs.writeFileSync(this.clockFiles.get(name)!, offset);
  }

  async kill(name: string): Promise<void> {
    const n = this.node(name);
    n.signal('SIGKILL');
    await n.stop();
  }

  restartPostgres(downMs: number): Promise<void> {
    this.pgCtl(['-m', 'immediate', '-w', 'stop']);
    return sleep(downMs).then(() => this.pgCtl(this.pgStart));
  }

  /** Every node's output tail (for a report when something went wrong). */
  tails(): string {
    return this.nodes.map((n) => `--- ${n.name}\n${n.out.slice(-1500)}`).join('\n');
  }

  async stop(): Promise<void> {
    for (const n of this.nodes) {
      n.signal('SIGCONT');
      await n.stop();
    }
    this.stopPostgres();
    this.unregister();
  }

  private stopPostgres(): void {
    try {
      if (this.pgStart.length > 0) this.pgCtl(['-m', 'immediate', '-w', 'stop']);
    } catch {
      // not running
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
