import fs from 'node:fs';
import t from 'tap';
import { freshDatabase, providePostgres } from '../helpers/postgres.js';
import { spawnServer } from '../helpers/server.js';
import { waitUntil } from '../helpers/wait.js';

/**
 * Shutdown in cluster mode with PostgreSQL frozen (a hung host, a partition): the close's steps
 * wait on the database (the leader's unlock, the feeds' UNLISTEN), which would hold SIGTERM for
 * the TCP keepalive (minutes). The first signal waits for an orderly close (at most
 * SHUTDOWN_DEADLINE_MS); a second one ends the process at once, saying so.
 */
const started = await providePostgres();
if ('skipped' in started) {
  t.skip(`shutdown with PostgreSQL frozen: ${started.skipped}`);
} else {
  const pg = started;
  t.teardown(() => pg.stop());

  /** The postmaster and its backends, as /proc lists them. */
  const pgPids = (): number[] => {
    const kids = fs
      .readdirSync('/proc')
      .filter((d) => /^\d+$/.test(d))
      .filter((d) => {
        try {
          return Number(fs.readFileSync(`/proc/${d}/stat`, 'utf8').replace(/^.*\) /, '').split(' ')[1]) === pg.pid;
        } catch {
          return false; // gone meanwhile
        }
      })
      .map(Number);
    return [pg.pid, ...kids];
  };
  const signalPg = (sig: NodeJS.Signals) => {
    for (const pid of pgPids()) {
      try {
        process.kill(pid, sig);
      } catch {
        // gone meanwhile
      }
    }
  };

  t.test('PostgreSQL frozen: SIGTERM waits for the orderly close, a second SIGTERM exits at once', async (t) => {
    const node = await spawnServer(['--database', await freshDatabase(pg, 'shutdown')]);
    t.teardown(() => {
      signalPg('SIGCONT');
      node.child.kill('SIGKILL');
    });
    await waitUntil('the node to lead', () => node.stderr().includes('elected leader'), 15_000, 50);
    const exited = new Promise<number | null>((resolve) => node.child.once('exit', (code) => resolve(code)));
    signalPg('SIGSTOP');
    node.child.kill('SIGTERM');
    const first = await Promise.race([exited, new Promise<'running'>((r) => setTimeout(() => r('running'), 1500))]);
    t.equal(first, 'running', 'the close waits on the frozen database');
    const sent = Date.now();
    node.child.kill('SIGTERM');
    const code = await Promise.race([exited, new Promise<'running'>((r) => setTimeout(() => r('running'), 5000))]);
    t.equal(code, 1, `the second signal ended it (${Date.now() - sent} ms)`);
    t.match(node.stderr(), /second signal: exiting without waiting for the shutdown to finish/, 'and said so');
  });
}
