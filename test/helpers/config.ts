import { defaultConfig, type Config } from '../../src/config.js';

/** A CPU job's budget under test (production: 2 s; see testConfig). */
const TEST_POOL_DEADLINE_MS = 30_000;

/**
 * The config of a server a test starts in-process: the defaults (no ./settings.json, no KOOR_*
 * of the developer's), overridden by `over`, with
 * - the test hooks on (fault injection through the writer's test methods);
 * - a 30 s CPU-job budget: the production 2 s is for production, and a test machine running many
 *   servers at once can stall a thread that long, which would read as "pattern timed out" (tests
 *   of the budget set their own);
 * - `sync: 'normal'`: the same SQLite file and WAL, without an fsync per commit. Such a server is
 *   never power-cut; what crashes survive is tested on subprocesses with the default `full`
 *   (test/durability.test.ts, test/http/webhooks-durable.test.ts);
 * - cluster mode: 2 read connections a node (`--pg-connections`, 8 in production): a
 *   PostgreSQL backend costs this machine ~40 ms of CPU to start, and a test's few requests
 *   queue on 2 no slower than they spread over 8 (nodes started as processes keep the default).
 */
export function testConfig(over: Partial<Config> = {}): Config {
  return defaultConfig({ testHooks: true, poolDeadlineMs: TEST_POOL_DEADLINE_MS, sync: 'normal', pgConnections: 2, ...over });
}
