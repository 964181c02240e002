/**
 * The servers under soak: koor-server from dist as child processes on fixed loopback ports (so a
 * node killed with SIGKILL comes back where its clients look for it), on a temp data dir (SQLite)
 * or on a throwaway PostgreSQL (cluster). Faults: SIGKILL and restart on the same port and data,
 * SIGSTOP … SIGCONT, a PostgreSQL restart. A node that exits when nobody killed it is recorded.
 * Samples of each node's memory and of the data's size are taken every second.
 */
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { sleep, withTimeout } from '../lib/async.js';
import { makeTempDir } from '../lib/cleanup.js';
import { INSPECT_ENV, Inspector, inspectorUrl } from '../lib/inspector.js';
import { freePort, spawnNode, type ServerProc } from '../lib/processes.js';
import { KOOR_MAIN_JS } from '../lib/suite.js';

/** Server settings of the soak beside the defaults, and why. */
const SOAK_SERVER_ARGS = [
  // The loops act as agents; the soak is about correctness, not the per-agent limit.
  '--rate-limit', '0',
  // Retention runs every few seconds, under the load, instead of once a minute.
  '--prune-interval', '5s',
  // Enough retained events that a subscriber resuming after a pause or a restart finds its
  // events still there (the default 1000 is a few seconds of this traffic).
  '--event-retention', '10000',
  // Bounded audit and inbox tables, so that the data's size can level off within minutes.
  '--audit-keep', '20000',
  '--message-retention', '1m',
];

export interface MemSample {
  t: number;
  node: number;
  rss: number;
  anon: number;
}

export interface DiskSample {
  t: number;
  /** The data's size: data.db without its WAL (SQLite), the database (PostgreSQL: koor_data_file_bytes). */
  bytes: number;
  wal: number;
  /** Writes acknowledged so far in the phase, and the bytes of their bodies. */
  writes: number;
  payload: number;
}

export class KoorNode {
  proc: ServerProc | null = null;
  readonly url: string;
  /** Exits nobody caused: the output's tail with each. */
  readonly unexpectedExits: string[] = [];
  starts = 0;
  private expectExit = false;

  private constructor(
    readonly name: string,
    readonly port: number,
    readonly dataDir: string,
    private readonly args: string[],
  ) {
    this.url = `http://127.0.0.1:${port}`;
  }

  static async create(name: string, extraArgs: string[]): Promise<KoorNode> {
    const dir = makeTempDir('koor-soak-').dir;
    const port = await freePort();
    return new KoorNode(name, port, dir, ['--bind', `127.0.0.1:${port}`, '--dashboard-bind', '', '--data-dir', dir, ...SOAK_SERVER_ARGS, ...extraArgs]);
  }

  get pid(): number | null {
    const c = this.proc?.child;
    return c && c.exitCode === null && c.signalCode === null ? c.pid! : null;
  }

  /** Starts the server (again) on the same port and data; resolves once it listens. */
  async start(): Promise<void> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        // The inspector (loopback, a port of its own) lets the memory check ask for a full collection.
        this.proc = await spawnNode(this.name, process.env.KOOR_BENCH_SERVER || KOOR_MAIN_JS, this.args, { cwd: this.dataDir, startTimeoutMs: 30_000, env: INSPECT_ENV });
        this.inspector = inspectorUrl(this.proc);
        break;
      } catch (e) {
        // The port may be held a moment longer by the killed process's socket: try again.
        if (Date.now() > deadline || !/address already in use/.test(String(e))) throw e;
        await sleep(200);
      }
    }
    this.starts++;
    this.expectExit = false;
    const proc = this.proc;
    proc.child.once('exit', (code, signal) => {
      if (!this.expectExit && this.proc === proc) this.unexpectedExits.push(`${this.name} exited by itself (code ${code}, signal ${signal}): ${proc.output().slice(-1500)}`);
    });
  }

  /** SIGKILL; resolves once the process is gone. */
  async kill9(): Promise<void> {
    const c = this.proc?.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    this.expectExit = true;
    const gone = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill('SIGCONT');
    c.kill('SIGKILL');
    await gone;
  }

  /** The inspector's WebSocket URL of the running process, null when it did not say. */
  private inspector: string | null = null;

  /**
   * The process's memory once V8 has collected all it can (the inspector's
   * HeapProfiler.collectGarbage): what it retains, not the garbage its heap holds until the next
   * full collection. Under the soak's load V8 let the old generation grow by 90-110 MiB of
   * garbage in 20 s without a full collection (heap used 100 -> 14 MiB once one ran), which the
   * window's medians took for growth. The main thread's heap is collected (the inspector's
   * isolate); the writer's and the pool's threads keep theirs. Null when the process or its
   * inspector is not there.
   */
  async retained(): Promise<{ rss: number; anon: number } | null> {
    const pid = this.pid;
    if (pid === null || this.inspector === null) return null;
    const connecting = Inspector.connect(this.inspector);
    try {
      await withTimeout(
        connecting.then((i) => i.call('HeapProfiler.collectGarbage')),
        15_000,
        `${this.name}: full collection`,
      );
    } catch {
      return null;
    } finally {
      // Closed whenever it connects, after the timeout too; a connection that failed has nothing to close.
      connecting.then(
        (i) => i.close(),
        () => {},
      );
    }
    return memoryOf(pid);
  }

  /** SIGSTOP for `ms`, then SIGCONT. */
  async pause(ms: number): Promise<void> {
    const c = this.proc?.child;
    if (!c || this.pid === null) return;
    c.kill('SIGSTOP');
    try {
      await sleep(ms);
    } finally {
      c.kill('SIGCONT');
    }
  }

  /** Graceful stop (SIGTERM, then SIGKILL after the grace). */
  async stop(): Promise<void> {
    this.expectExit = true;
    this.proc?.child.kill('SIGCONT');
    await this.proc?.stop(10_000);
  }

  /** Size of data.db and of its WAL, bytes (SQLite). */
  sqliteBytes(): { bytes: number; wal: number } {
    const size = (f: string) => {
      try {
        return fs.statSync(path.join(this.dataDir, f)).size;
      } catch {
        return 0;
      }
    };
    return { bytes: size('data.db'), wal: size('data.db-wal') };
  }
}

/** VmRSS and RssAnon of a process, bytes; null when it is gone. */
function memoryOf(pid: number): { rss: number; anon: number } | null {
  try {
    const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? NaN) * 1024;
    const m = { rss: kb('VmRSS'), anon: kb('RssAnon') };
    // A process being reaped has no memory lines.
    return Number.isFinite(m.rss) && Number.isFinite(m.anon) ? m : null;
  } catch {
    return null;
  }
}

/** Samples every node's memory and the data's size once a second until stopped. */
export function sampler(nodes: KoorNode[], t0: number, writes: () => { writes: number; payload: number }, dataBytes: () => Promise<{ bytes: number; wal: number } | null>): { mem: MemSample[]; disk: DiskSample[]; stop: () => void } {
  const mem: MemSample[] = [];
  const disk: DiskSample[] = [];
  let busy = false;
  const timer = setInterval(() => {
    const t = (performance.now() - t0) / 1000;
    nodes.forEach((n, i) => {
      const pid = n.pid;
      const m = pid === null ? null : memoryOf(pid);
      if (m) mem.push({ t, node: i, ...m });
    });
    if (busy) return;
    busy = true;
    const w = writes();
    dataBytes()
      .then((d) => {
        if (d) disk.push({ t, ...d, ...w });
      })
      .catch(() => undefined)
      .finally(() => (busy = false));
  }, 1000);
  timer.unref();
  return { mem, disk, stop: () => clearInterval(timer) };
}
