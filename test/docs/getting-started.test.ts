import { execFile, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { CLI_JS } from '../cli/helpers.js';
import { koorBin } from '../helpers/koor-hooks.js';
import { repoPath } from '../helpers/paths.js';
import { startTestServer, tempDir, TEST_BACKEND } from '../helpers/server.js';

/**
 * docs/getting-started.md as a newcomer runs it: every ```sh block of the page (not the
 * ```sh no-test ones: installing globally, starting a server), in order, in one bash, against a
 * real server, with `koor-cli` on the PATH and a fresh HOME. A line ending in `# → X` must print X
 * (`…` matches anything). The only changes made to the page's text: `localhost:9800` is the test
 * server's address (and `koor-cli` is pointed there by KOOR_SERVER), `~/src/shop` a fresh git
 * repository with an origin remote.
 */

interface Step {
  line: string;
  expect?: string;
}

/** The runnable lines of the page, with their expected output. */
function steps(page: string): Step[] {
  const out: Step[] = [];
  for (const m of page.matchAll(/^```sh\n([\s\S]*?)^```$/gm)) {
    for (const raw of m[1]!.split('\n')) {
      if (raw.trim() === '') continue;
      const arrow = raw.indexOf('# → ');
      out.push(arrow < 0 ? { line: raw } : { line: raw.slice(0, arrow).trimEnd(), expect: raw.slice(arrow + 4).trim() });
    }
  }
  return out;
}

/** `…` is anything (newlines too); the rest literal; the whole output must match. */
const matcher = (expect: string): RegExp => new RegExp(`^${expect.split('…').map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('[\\s\\S]*')}$`);

const skip = TEST_BACKEND === 'sqlite' ? false : "the page's commands are the contract suites' routes, which the cluster pass runs: checked in the main pass";

t.test('docs/getting-started.md: every command runs and prints what the page says', { skip }, async (t) => {
  const page = fs.readFileSync(repoPath('docs', 'getting-started.md'), 'utf8');
  const all = steps(page);
  t.ok(all.length >= 20, `the page has runnable commands (${all.length})`);
  t.ok(all.filter((s) => s.expect !== undefined).length >= 15, 'and most say what they print');

  const s = await startTestServer(t);
  const hostPort = new URL(s.url).host;
  const dir = tempDir(t, 'koor-getting-started-');
  const home = path.join(dir, 'home');
  const bin = path.join(dir, 'bin');
  const work = path.join(dir, 'work');
  const repo = path.join(home, 'src', 'shop');
  for (const d of [bin, work, repo]) fs.mkdirSync(d, { recursive: true });
  koorBin(bin);
  spawnSync('git', ['init', '-q', repo]);
  spawnSync('git', ['-C', repo, 'remote', 'add', 'origin', 'git@github.com:acme/shop.git']);

  // Each step's output goes to a file of its own; a failing command stops the script and names itself.
  const outFile = (i: number) => path.join(dir, `out.${i}`);
  const script = ['set -eo pipefail', `trap 'echo "FAILED: $BASH_COMMAND" >&2' ERR`];
  all.forEach((st, i) => {
    const line = st.line.replaceAll('localhost:9800', hostPort).replaceAll('~/src/shop', repo);
    script.push(st.expect === undefined || line.trimEnd().endsWith('&') ? line : `${line} > ${outFile(i)}`);
  });
  script.push('kill %% 2>/dev/null || true');
  // Asynchronously: the server runs in this process and must keep answering.
  const r = await new Promise<{ status: number; stderr: string }>((resolve) => {
    execFile('bash', ['-c', script.join('\n')], { cwd: work, encoding: 'utf8', timeout: 60_000, env: { PATH: `${bin}:${process.env.PATH}`, HOME: home, KOOR_SERVER: s.url, LANG: 'C.UTF-8' } }, (err, _stdout, stderr) =>
      resolve({ status: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stderr }),
    );
  });
  t.equal(r.status, 0, `the page's commands run to the end${r.status === 0 ? '' : `: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`}`);
  all.forEach((st, i) => {
    if (st.expect === undefined || !fs.existsSync(outFile(i))) return;
    const got = fs.readFileSync(outFile(i), 'utf8').trim();
    t.match(got, matcher(st.expect), `\`${st.line.slice(0, 70)}\` prints ${st.expect}`);
  });
  // What the page says init did, it did.
  t.match(fs.readFileSync(path.join(repo, '.claude', 'settings.json'), 'utf8'), /koor-hook claude-code/, 'init --claude-code wrote the hooks into .claude/settings.json');
  t.match(fs.readFileSync(path.join(repo, '.mcp.json'), 'utf8'), /"koor"/, 'and the MCP server into .mcp.json');
});
