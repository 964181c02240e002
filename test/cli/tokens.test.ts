import t from 'tap';
import { startTestServer, tempDir } from '../helpers/server.js';
import { cliFor } from './helpers.js';

/** koor-cli token create|list|revoke as subprocesses. */

t.test('token create, list, revoke', async (t) => {
  const s = await startTestServer(t, { authToken: 'T' });
  const cli = cliFor(s.url, tempDir(t), { KOOR_TOKEN: 'T' });

  const made = await cli('token', 'create', '--name', 'ci', '--role', 'reader', '--scopes', 'project:web,topic:web.*', '--ttl', '12h');
  t.equal(made.code, 0, made.stderr);
  const tok = JSON.parse(made.stdout);
  t.match(tok, { name: 'ci', role: 'reader', scopes: ['project:web', 'topic:web.*'] });
  t.match(tok.token, /^koor_/);
  t.equal(Date.parse(tok.expires_at) - Date.parse(tok.created_at), 12 * 3600_000);

  const asReader = cliFor(s.url, tempDir(t), { KOOR_TOKEN: tok.token });
  t.equal((await asReader('specs', 'list', 'web')).code, 0, 'the created token works from the CLI (within its scopes)');
  t.equal((await asReader('state', 'list')).code, 1, 'and is refused outside them');
  const denied = await asReader('token', 'list');
  t.same([denied.code, JSON.parse(denied.stdout)], [1, { error: 'reader token may not manage tokens', code: 403 }]);

  const list = await cli('token', 'list');
  t.equal(list.code, 0);
  t.same(JSON.parse(list.stdout).map((x: any) => [x.id, x.name]), [[tok.id, 'ci']]);
  t.notMatch(list.stdout, tok.token);

  const bad = await cli('token', 'create', '--name', 'x', '--role', 'agent', '--scopes', 'repo:x');
  t.same([bad.code, JSON.parse(bad.stdout).error], [1, 'unknown scope kind: repo (known: project, state, topic, path)']);

  const rev = await cli('token', 'revoke', tok.id);
  t.same([rev.code, JSON.parse(rev.stdout)], [0, { revoked: tok.id }]);
  t.equal((await asReader('state', 'list')).code, 1, 'refused once revoked');
});
