import type { Sql } from 'postgres';
import { CHANGES_CHANNEL } from '../../schemas/rpc/cluster.js';
import { CLUSTER_LEADER_CHECK_MS, CLUSTER_LEADER_RETRY_MS, CLUSTER_RESTORE_CHECK_MS } from '../shared/limits.js';
import type { Logger } from '../log.js';
import { openPg } from '../shared/pg.js';
import { TxClient } from '../shared/pg-tx.js';
import { within } from '../within.js';
import { LeaderElection } from './leader.js';

/** A background job: started on the leader alone (cluster mode), on every start otherwise. */
export interface Job {
  start(): void;
  stop(): unknown;
}

/** The advisory lock key of the background jobs' election ("kldr"; the write lock is another). */
const JOBS_LEADER_KEY = 0x6b6c6472;

/**
 * What a node of cluster mode holds besides its writer thread: the read pool its readers query,
 * the client of its snapshot reads (read transactions, kept off the pool: a lost connection
 * drops that client whole, src/shared/pg-tx.ts), the LISTEN for changes other nodes make that
 * this node keeps in memory (deregistered agents), and the election that runs the cluster-wide
 * background jobs on one node at a time.
 */
export class ClusterNode {
  private election: LeaderElection | null = null;
  private listening: { unlisten(): Promise<void> } | null = null;
  private jobs: readonly Job[] = [];
  private running = false;
  /** The restores counter as this node last read it (null before the first read). */
  private restores: number | null = null;
  private restoreTimer: NodeJS.Timeout | null = null;

  /** The readers' transactions (one snapshot per read), on a client that nothing else uses. */
  readonly snapshots: TxClient;

  private constructor(
    /** The read pool (readers, the event feed and its LISTEN). */
    readonly sql: Sql,
    /** One connection: the session that holds the leader lock. */
    private readonly leaderSql: Sql,
    private readonly log: Logger,
    url: string,
    connections: number,
  ) {
    this.snapshots = new TxClient(() => openPg(url, { max: Math.max(1, Math.floor(connections / 2)), name: 'koor-snapshot' }));
  }

  /**
   * Opens the pools and checks PostgreSQL answers (start-up fails with its reason otherwise).
   * `connections` (--pg-connections): the read pool's size, which the database clock's reading
   * shares; the snapshot reads get half as many (at least 1). Besides them a node opens 1 for
   * LISTEN, 1 for the election and 3 on its writer thread (a batch's, the next one's, its clock's):
   * 17 at the default 8, so PostgreSQL's default `max_connections` of 100 takes 5 nodes.
   */
  static async open(url: string, connections: number, log: Logger): Promise<ClusterNode> {
    const sql = openPg(url, { max: connections, name: 'koor-reader' });
    const leaderSql = openPg(url, { max: 1, name: 'koor-leader' });
    try {
      await sql`SELECT 1`;
      return new ClusterNode(sql, leaderSql, log, url, connections);
    } catch (e) {
      await Promise.allSettled([sql.end({ timeout: 1 }), leaderSql.end({ timeout: 1 })]);
      throw e;
    }
  }

  get isLeader(): boolean {
    return this.running && (this.election?.isLeader ?? false);
  }

  /**
   * Listens for other nodes' changes (`forget`: an agent deregistered anywhere; `revoked`: a
   * created token revoked anywhere; `restored`: a backup replaced the database) and enters the
   * election for `jobs`.
   */
  async start(jobs: readonly Job[], on: { forget: (instanceId: string) => void; revoked?: (tokenId: string) => void; restored: () => void }): Promise<void> {
    this.jobs = jobs;
    /**
     * A restore counts itself in `koor_counters` ('restores') as it commits, and notifies. The
     * counter is what decides: read when the notification comes, when the LISTEN connection
     * (re)starts, and every CLUSTER_RESTORE_CHECK_MS — a notification sent while this node's
     * LISTEN connection was down (or one that never came back) is never delivered, and the node
     * went on serving what it kept of the replaced data.
     */
    const checkRestores = async (): Promise<void> => {
      try {
        const [row] = await within(this.sql<{ value: number }[]>`SELECT value FROM koor_counters WHERE name = 'restores'`, CLUSTER_RESTORE_CHECK_MS, 'reading the restores counter');
        const seen = this.restores;
        this.restores = Number(row?.value ?? 0);
        if (seen === null || this.restores === seen) return;
        on.restored();
        void this.restartJobs();
      } catch (err) {
        this.log.debug({ err }, 'restores counter not read: PostgreSQL did not answer');
      }
    };
    await checkRestores();
    this.listening = await this.sql.listen(
      CHANGES_CHANNEL,
      (payload) => {
        if (payload.startsWith('instance:')) on.forget(payload.slice('instance:'.length));
        else if (payload.startsWith('token:')) on.revoked?.(payload.slice('token:'.length));
        else if (payload === 'restored') void checkRestores();
      },
      () => void checkRestores(),
    );
    const poll = (): void => {
      this.restoreTimer = setTimeout(() => void checkRestores().finally(() => this.restoreTimer !== null && poll()), CLUSTER_RESTORE_CHECK_MS);
      this.restoreTimer.unref();
    };
    poll();
    this.election = new LeaderElection(this.leaderSql, {
      key: JOBS_LEADER_KEY,
      retryMs: CLUSTER_LEADER_RETRY_MS,
      checkMs: CLUSTER_LEADER_CHECK_MS,
      onElected: () => {
        this.log.info('elected leader: running the background jobs');
        this.running = true;
        for (const j of this.jobs) j.start();
      },
      onDeposed: (why) => {
        if (why !== 'stopped') this.log.warn({ why }, 'no longer the leader: background jobs stopped');
        this.stopJobs();
      },
      onError: (err) => this.log.debug({ err }, 'leader election: PostgreSQL did not answer'),
    });
    this.election.start();
  }

  /**
   * A backup replaced the database: the leader's jobs start again on it, as after a restart (what
   * they kept in memory — how far each webhook read the log — belonged to the data replaced).
   */
  private async restartJobs(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    await Promise.allSettled(this.jobs.map((j) => Promise.resolve().then(() => j.stop())));
    // Deposed meanwhile: the next leader starts them.
    if (this.running || !this.election?.isLeader) return;
    this.log.info('the database was restored: background jobs started again on it');
    this.running = true;
    for (const j of this.jobs) j.start();
  }

  private stopJobs(): void {
    if (!this.running) return;
    this.running = false;
    for (const j of this.jobs) void Promise.resolve(j.stop()).catch((err: unknown) => this.log.warn({ err }, 'stopping a background job failed'));
  }

  /** Steps down (the next node takes the lead at once) and stops listening; the pools stay open. */
  async stop(): Promise<void> {
    if (this.restoreTimer) clearTimeout(this.restoreTimer);
    this.restoreTimer = null;
    await this.election?.stop();
    this.stopJobs();
    await this.listening?.unlisten().catch(() => {});
  }

  async end(): Promise<void> {
    await Promise.allSettled([this.sql.end({ timeout: 5 }), this.snapshots.end({ timeout: 5 }), this.leaderSql.end({ timeout: 5 })]);
  }
}
