import { Tiktoken } from 'js-tiktoken/lite';
import o200k_base from 'js-tiktoken/ranks/o200k_base';
import t from 'tap';
import { ConcernIndex } from '../../src/domains/hooks/concern-index.js';
import { HOOK_NEWS_TAIL } from '../../src/shared/limits-features.js';
import { digestLines, digestText, tokenEstimate } from '../../src/domains/hooks/digest.js';

/**
 * The digest's token estimate (src/domains/hooks/digest.ts) bounds the real o200k count from
 * above for what digests hold — names, paths, quoted subjects, ids — and for the text a budget is
 * easiest to blow with: long runs of one letter, other scripts, emoji. digestText keeps any
 * mix of lines within its budget by the real count.
 */
const enc = new Tiktoken(o200k_base);
const tokens = (s: string): number => enc.encode(s).length;

const SAMPLES = [
  'Koor:\n- 2 new messages: agent-a: "users contract" (#12, ack requested); ben: "please regenerate the client" (#13). Read: koor-cli inbox',
  'agent-c leased src/api/*.ts ("api refactor"), covering src/api/users.ts you edited. Coordinate before editing it again: koor-cli send <name> "<text>"',
  'claude-shop-0e3c7a52 claude-a-repository-with-a-rather-long-name-5f00ba11 3b788df5-2e33-4f13-abc9-bec3d665d53f',
  'x'.repeat(500),
  's'.repeat(77) + '…',
  'r'.repeat(300) + ' ' + 't'.repeat(300),
  'aaaa bbbb cccc dddd eeee ffff '.repeat(20),
  '0123456789'.repeat(40),
  '请重新生成客户端，用户接口已经更改。'.repeat(10),
  'Пожалуйста, обновите клиент: контракт /users изменился.'.repeat(5),
  '🚀🔥✅ build is green — ship it! 🎉'.repeat(10),
  '{"a":[1,2,3],"b":{"c":"d"}} ;;;;;:::::,,,,,.....!!!!!'.repeat(10),
  '/home/ann/work/shop/src/very/deeply/nested/module-7/implementation-file-7.ts',
  'Budget exceeded: agent:claude-a-repository-with-a-rather-long-name-5f00ba11 spent $1234.57 of $1000 / 20000000 tokens (month 2026-11); task claims are refused until the period rolls or the cap is raised. See: koor-cli budget list',
  'Tasks ready in shop: #1 "login page"; #2 "signup page"; #3 "password reset". Claim one: koor-cli task claim shop',
];

t.test('the estimate is at least the real count', async (t) => {
  for (const s of SAMPLES) t.ok(tokenEstimate(s) >= tokens(s), `${JSON.stringify(s.slice(0, 40))}: estimate ${tokenEstimate(s)} ≥ real ${tokens(s)}`);
});

t.test('digestText stays within its budget for any mix of those lines, and says when it cut', async (t) => {
  for (const budget of [200, 400]) {
    for (let i = 0; i < SAMPLES.length; i++) {
      const lines = [...SAMPLES.slice(i), ...SAMPLES.slice(0, i)];
      const text = digestText(lines, budget)!;
      t.ok(tokens(text) <= budget, `budget ${budget}, from sample ${i}: ${tokens(text)} tokens`);
      t.match(text, /\n- more: koor-cli digest$/);
    }
  }
  t.equal(digestText([], 200), null, 'nothing: no text at all');
  const short = digestText(['one thing'], 200);
  t.equal(short, 'Koor:\n- one thing', 'a short digest is as written');
});

t.test('the concern index may not rule out events digestLines makes a line of', async (t) => {
  // A seeded generator: the same draws each run, over the fields digestLines reads.
  // mulberry32: an LCG's low bits (what \`% n\` keeps) repeat with a short period, and some pairs of draws never came up.
  let seed = 42;
  const rnd = (n: number): number => {
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), seed | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) % n;
  };
  const pick = <T>(xs: readonly T[]): T => xs[rnd(xs.length)]!;
  const agents = ['me', 'ann', 'bob'];
  const projects = ['shop', 'other', undefined];
  // Files (an edit hook's lease: the glob `src/\*x.ts` is the file src/*x.ts) and globs; the same file leased by one agent then another.
  const globs = ['src/a.ts', 'src/*.ts', 'src/**', 'lib/[ab].ts', 'src\\*x.ts', 'src/\\*x.ts', '**/a.ts', 'src/a?.ts', 'lib/b.ts', 'src/a.ts', 'lib/b.ts', 3];
  const me = { id: 'me', name: 'me-name', project: 'shop' };
  const event = (i: number) => {
    const topic = pick(['task.ready', 'task.claimed', 'task.released', 'task.done', 'lease.acquired', 'lease.released', 'budget.exceeded']);
    const data: Record<string, unknown> = { id: pick(['L1', 'L2', 7, 8]), project: pick(projects), status: pick(['ready', 'claimed', 'done']), claimed_by: pick(agents), released_from: pick(agents), reason: pick(['stale', 'released']), resume: pick(['next step', undefined]), holder: pick(agents), holder_name: 'x', resources: [pick(globs), pick(globs)], scope: pick(['global', 'agent:me', 'project:other']), title: 't' };
    return { id: i, topic, data };
  };
  let lined = 0;
  let ruledOut = 0;
  for (let n = 0; n < 5000; n++) {
    const events = Array.from({ length: 1 + rnd(4) }, (_, i) => event(i + 1));
    const edited = [pick(['src/a.ts', 'lib/b.ts', 'src/*x.ts']), pick(['src/ab.ts', 'docs/x.md'])].slice(0, rnd(3));
    const denied = rnd(2) ? [{ path: 'src/a.ts', lease_id: pick(['L1', 'L2']) }] : [];
    // The index of a node that kept events 1..9 before these: asked since the first of them.
    const index = new ConcernIndex(0);
    for (const e of events) index.add({ ...e, id: e.id + 10 });
    const may = index.mayConcern(10, me, edited, denied);
    if (!may) ruledOut++;
    if (digestLines({ me, messages: [], events, audit: [], edited, denied }).length === 0) continue;
    lined++;
    if (!may) {
      t.fail(`the index rules out events digestLines makes a line of: ${JSON.stringify({ events, edited, denied })}`);
      return;
    }
  }
  t.ok(lined > 500, `${lined} of 5,000 draws made a line, none of them ruled out by the index`);
  t.ok(ruledOut > 500, `${ruledOut} of them ruled out by the index`);
  // Events at or before the mark are not its news; a mark older than what the index was told of may miss some.
  const index = new ConcernIndex(5);
  index.add({ id: 6, topic: 'task.claimed', data: { claimed_by: 'me', status: 'claimed' } });
  t.notOk(index.mayConcern(5, me, [], []), 'its own claim is no news to it');
  index.add({ id: 7, topic: 'task.claimed', data: { claimed_by: 'me', status: 'claimed', resume: 'the rest' } });
  t.ok(index.mayConcern(5, me, [], []), 'a claim it resumes from a checkpoint is');
  t.notOk(index.mayConcern(7, me, [], []), 'not once the mark is past it');
  t.ok(index.mayConcern(4, me, [], []), 'a mark before the index began: may');
  // And most events of others are told apart: a task of another agent, another project's lease, a lease far from its edits.
  const one = (e: { topic: string; data: Record<string, unknown> }, edited: string[]): boolean => {
    const i = new ConcernIndex(0);
    i.add({ id: 1, ...e });
    return i.mayConcern(0, me, edited, []);
  };
  t.notOk(one({ topic: 'task.claimed', data: { status: 'claimed', project: 'shop', claimed_by: 'ann' } }, []));
  t.notOk(one({ topic: 'lease.acquired', data: { holder: 'ann', project: 'other', resources: ['src/a.ts'] } }, ['src/a.ts']));
  t.notOk(one({ topic: 'lease.acquired', data: { holder: 'ann', project: 'shop', resources: ['lib/**'] } }, ['src/a.ts']));
  // A file leased by one agent then another: the newest taken by someone else is what counts.
  const taken = new ConcernIndex(0);
  const lease = (id: number, holder: string, project = 'shop') => taken.add({ id, topic: 'lease.acquired', data: { holder, project, resources: ['src/a.ts'] } });
  lease(1, 'ann');
  lease(2, 'me');
  lease(3, 'me');
  lease(4, 'ann', 'other');
  t.ok(taken.mayConcern(0, me, ['src/a.ts'], []), "ann's lease of the file it edited");
  t.notOk(taken.mayConcern(1, me, ['src/a.ts'], []), 'past it, only its own (and another project\'s file of that path)');
  lease(5, 'bob');
  t.ok(taken.mayConcern(4, me, ['src/a.ts'], []), "bob's, after its own");
  lease(6, 'me');
  t.ok(taken.mayConcern(4, me, ['src/a.ts'], []), 'still, with its own after it');
  t.notOk(taken.mayConcern(5, me, ['src/a.ts'], []));
  t.notOk(taken.mayConcern(0, me, ['src/b.ts'], []), 'another file');
  // A task's paths: a glob, kept by the folder its matches are under.
  const claimed = new ConcernIndex(0);
  claimed.add({ id: 1, topic: 'lease.acquired', data: { holder: 'ann', project: 'shop', resources: ['src/backlog/1/**'] } });
  t.ok(claimed.mayConcern(0, me, ['docs/x.md', 'src/backlog/1/deep/x.ts'], []), 'a file under the folder of a glob another agent leased');
  t.notOk(claimed.mayConcern(0, me, ['src/backlog/12/x.ts', 'src/backlog/x.ts'], []), 'not one beside it');
  claimed.add({ id: 2, topic: 'lease.acquired', data: { holder: 'bob', project: 'shop', resources: ['**/*.md'] } });
  t.ok(claimed.mayConcern(1, me, ['docs/x.md'], []), 'a glob of any folder');
  claimed.add({ id: 3, topic: 'lease.acquired', data: { holder: 'bob', project: 'shop', resources: ['lib/a?.ts'] } });
  t.ok(claimed.mayConcern(2, me, ['lib/ab.ts'], []), 'a glob whose literal start ends inside a name');
  // Bounded: two generations of files and folders, the older dropped as the newer fills; a mark from before what was dropped may miss some.
  const full = new ConcernIndex(0);
  for (let i = 1; i <= 2 * HOOK_NEWS_TAIL + 1; i++) full.add({ id: i, topic: 'lease.acquired', data: { holder: 'ann', project: 'shop', resources: [`f/${i}.ts`] } });
  t.ok(full.mayConcern(HOOK_NEWS_TAIL - 1, me, ['x.ts'], []), 'a mark from before what it dropped: may');
  t.notOk(full.mayConcern(HOOK_NEWS_TAIL, me, ['x.ts'], []), 'a mark since: told apart');
  t.ok(full.mayConcern(HOOK_NEWS_TAIL, me, [`f/${HOOK_NEWS_TAIL + 5}.ts`], []), 'by the older generation too');
  t.ok(full.mayConcern(2 * HOOK_NEWS_TAIL, me, [`f/${2 * HOOK_NEWS_TAIL + 1}.ts`], []), 'and the newer');
});
