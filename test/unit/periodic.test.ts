import { execFileSync } from 'node:child_process';
import t from 'tap';
import { createLogger } from '../../src/log.js';
import { Periodic } from '../../src/shared/periodic.js';
import { repoPath } from '../helpers/paths.js';
import { waitUntil } from '../helpers/wait.js';

/** A logger whose lines the test reads. */
function capture(): { log: ReturnType<typeof createLogger>; lines: Array<{ level: number; msg: string; err?: { message: string } }> } {
  const lines: Array<{ level: number; msg: string; err?: { message: string } }> = [];
  const log = createLogger('debug', {
    write(s: string) {
      lines.push(JSON.parse(s) as { level: number; msg: string });
      return true;
    },
  } as unknown as NodeJS.WritableStream);
  return { log, lines };
}

/** A promise the test settles by hand. */
function deferred(): { promise: Promise<void>; resolve(): void; reject(err: Error): void } {
  let resolve!: () => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const WARN = 40;
const DEBUG = 20;

t.test('a tick while the run is still going is skipped; the next one after it runs', async (t) => {
  const { log, lines } = capture();
  const runs: Array<ReturnType<typeof deferred>> = [];
  const p = new Periodic(
    () => {
      const d = deferred();
      runs.push(d);
      return d.promise;
    },
    { everyMs: 5, name: 'test job', log },
  ).start();
  await waitUntil('a first run', () => runs.length === 1);
  await waitUntil('ticks skipped', () => lines.filter((l) => l.msg === 'test job still running; tick skipped').length >= 3);
  t.equal(runs.length, 1, 'no second run while the first is under way');
  t.ok(p.running, 'running');
  runs[0]!.resolve();
  await waitUntil('a second run', () => runs.length === 2);
  t.equal(runs.length, 2, 'the next tick after it runs once');
  runs[1]!.resolve();
  await p.stop();
});

t.test('run() joins the run under way; a tick never overlaps a run() either', async (t) => {
  const { log } = capture();
  let calls = 0;
  let d = deferred();
  const p = new Periodic(
    () => {
      calls++;
      return d.promise;
    },
    { everyMs: 5, name: 'joined', log },
  );
  const a = p.run();
  const b = p.run();
  t.equal(a, b, 'the same run');
  t.equal(calls, 1, 'the job started once');
  p.start();
  await sleep(30);
  t.equal(calls, 1, 'ticks during a run() start nothing');
  d.resolve();
  await a;
  t.notOk(p.running, 'over');
  d = deferred();
  await waitUntil('a tick runs once the run() is over', () => calls === 2);
  d.resolve();
  await p.stop();
});

t.test('a failure is logged, never thrown, and the job runs again at the next tick', async (t) => {
  const { log, lines } = capture();
  let calls = 0;
  const p = new Periodic(
    () => {
      calls++;
      if (calls === 1) throw new Error('thrown at once');
      if (calls === 2) return Promise.reject(new Error('rejected later'));
      return undefined;
    },
    { everyMs: 5, name: 'failing job', log },
  ).start();
  await waitUntil('a third run', () => calls >= 3);
  await p.stop();
  const warned = lines.filter((l) => l.level === WARN);
  t.same(
    warned.slice(0, 2).map((l) => [l.msg, l.err?.message]),
    [
      ['failing job failed; retrying at the next tick', 'thrown at once'],
      ['failing job failed; retrying at the next tick', 'rejected later'],
    ],
    'both failures logged as warnings with their error',
  );
  t.equal(await p.run(), undefined, 'run() resolves even for a job that failed');
});

t.test('stop() waits for the run in flight, ticks no more, and a failure cut short by it is only debug', async (t) => {
  const { log, lines } = capture();
  let calls = 0;
  const d = deferred();
  const p = new Periodic(
    () => {
      calls++;
      return d.promise;
    },
    { everyMs: 5, name: 'stopping job', log },
  ).start();
  await waitUntil('a run', () => calls === 1);
  let stopped = false;
  const stopping = p.stop().then(() => (stopped = true));
  await sleep(20);
  t.notOk(stopped, 'stop() still waits for the run');
  d.reject(new Error('writer closing'));
  await stopping;
  t.ok(stopped, 'stop() resolved once the run was over');
  await sleep(30);
  t.equal(calls, 1, 'no tick after stop()');
  t.same(
    lines.filter((l) => l.err).map((l) => [l.level, l.msg, l.err?.message]),
    [[DEBUG, 'stopping job ended by shutdown', 'writer closing']],
    'the failure of a run cut short by shutdown is not a warning',
  );
  await p.stop();
  t.pass('a second stop() is harmless');
});

t.test('start() after stop() ticks again (a node that takes the lead again); start() twice keeps one timer', async (t) => {
  const { log } = capture();
  let calls = 0;
  const p = new Periodic(() => void calls++, { everyMs: 20, name: 'restarted', log });
  p.start();
  await waitUntil('a tick', () => calls >= 1);
  await p.stop();
  const before = calls;
  await sleep(60);
  t.equal(calls, before, 'stopped');
  p.start().start();
  await waitUntil('ticking again', () => calls > before);
  await p.stop();
  const after = calls;
  await sleep(60);
  // A second start() that made a second timer would have left it ticking past stop().
  t.equal(calls, after, 'one stop() ends the ticks of a start() called twice');
});

t.test('the timer never keeps the process alive', async (t) => {
  // A ref'd 60 s timer would hold the child until the 20 s bound kills it (execFileSync throws).
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', `import { Periodic } from ${JSON.stringify(repoPath('dist/src/shared/periodic.js'))}; import pino from 'pino'; new Periodic(() => {}, { everyMs: 60000, name: 'idle', log: pino({ level: 'silent' }) }).start(); console.log('started');`], { cwd: repoPath(), encoding: 'utf8', timeout: 20_000 });
  t.equal(out.trim(), 'started', 'the process exited without waiting for the 60 s timer');
});
