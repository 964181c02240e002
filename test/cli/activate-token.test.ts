import t from 'tap';
import { startTestServer, tempDir } from '../helpers/server.js';
import { cliFor } from './helpers.js';

/**
 * `koor-cli activate <id>` with a person's agent token and nothing else: the agent the
 * token registered is activated without KOOR_INSTANCE; another token's is refused, and the
 * refusal says how to act as one's own.
 */

const SERVER = 'activate-token-server';

t.test('koor-cli activate: its own agent with the token only; another token’s refused', async (t) => {
  const s = await startTestServer(t, { authToken: SERVER });
  const admin = cliFor(s.url, tempDir(t), { KOOR_TOKEN: SERVER });
  const made = await admin('token', 'create', '--name', 'ann-laptop', '--role', 'agent');
  t.equal(made.code, 0, made.stderr);
  const ann = cliFor(s.url, tempDir(t), { KOOR_TOKEN: (JSON.parse(made.stdout) as { token: string }).token, CLAUDE_CODE_SESSION_ID: '', CODEX_SESSION_ID: '' });

  const reg = await ann('register', 'ann-agent');
  t.equal(reg.code, 0, reg.stderr);
  const mine = JSON.parse(reg.stdout) as { id: string };
  const act = await ann('activate', mine.id);
  t.same([act.code, JSON.parse(act.stdout)], [0, { id: mine.id, status: 'active' }], 'activated without KOOR_INSTANCE');

  const theirs = JSON.parse((await admin('register', 'op-agent')).stdout) as { id: string };
  const refused = await ann('activate', theirs.id);
  t.same([refused.code, JSON.parse(refused.stdout)], [1, { error: 'agent token may not act as agent op-agent: this token did not register it; act as your own agent with KOOR_INSTANCE=<id> or --instance <id> (HTTP: X-Koor-Instance)', code: 403 }]);
  t.equal((await admin('activate', theirs.id)).code, 0, 'the operator activates it');
});
