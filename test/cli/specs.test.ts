import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { startTestServer, tempDir } from '../helpers/server.js';
import { cliFor } from './helpers.js';

t.test('specs commands', async (t) => {
  const s = await startTestServer(t);
  const dir = tempDir(t);
  const cli = cliFor(s.url, dir);

  const empty = await cli('specs', 'list', 'web');
  t.same([empty.code, JSON.parse(empty.stdout)], [0, { project: 'web', specs: [] }]);

  const file = path.join(dir, 'schema.json');
  fs.writeFileSync(file, '{"type":"object","properties":{"id":{"type":"string"}}}');
  const set = await cli('specs', 'set', 'web/api-schema', '--file', file);
  t.equal(set.code, 0, set.stderr);
  t.match(JSON.parse(set.stdout), { project: 'web', name: 'api-schema', version: 1 });
  const set2 = await cli('specs', 'set', 'web/notes', '--data', 'free text');
  t.equal(JSON.parse(set2.stdout).version, 1);

  const list = JSON.parse((await cli('specs', 'list', 'web')).stdout);
  t.same(list.specs.map((x: { name: string }) => x.name), ['api-schema', 'notes']);

  const get = await cli('specs', 'get', 'web/api-schema');
  t.same([get.code, get.stdout], [0, '{"type":"object","properties":{"id":{"type":"string"}}}']);
  const pretty = await cli('specs', 'get', 'web/api-schema', '--pretty');
  t.equal(pretty.stdout, '{\n  "type": "object",\n  "properties": {\n    "id": {\n      "type": "string"\n    }\n  }\n}\n');
  const text = await cli('specs', 'get', 'web/notes', '--pretty');
  t.equal(text.stdout, 'free text', 'a body that is not JSON is printed unchanged even with --pretty');

  const del = await cli('specs', 'delete', 'web/notes');
  t.same([del.code, JSON.parse(del.stdout)], [0, { deleted: 'web/notes', revision: 3 }]);
  const gone = await cli('specs', 'get', 'web/notes');
  t.same([gone.code, JSON.parse(gone.stdout)], [1, { error: 'spec not found: web/notes', code: 404 }]);

  // P/N splits at the first slash: the name keeps the rest, sent as one encoded segment.
  const nested = await cli('specs', 'set', 'web/v2/schema', '--data', '{"n":2}');
  t.same([nested.code, JSON.parse(nested.stdout).name], [0, 'v2/schema']);
  t.equal((await cli('specs', 'get', 'web/v2/schema')).stdout, '{"n":2}');
  t.same((await fetch(`${s.url}/api/specs/web`).then((r) => r.json()) as { specs: Array<{ name: string }> }).specs.map((x) => x.name), ['api-schema', 'v2/schema']);

  for (const bad of ['web', '/x', 'web/']) {
    const r = await cli('specs', 'get', bad);
    t.equal(r.code, 1, bad);
    t.equal(r.stdout, '');
    t.match(r.stderr, new RegExp(`^error: expected <project>/<name>, got ${bad.replace('/', '\\/')}\\nusage: koor-cli specs get <project/name>\\n$`));
  }
  const noBody = await cli('specs', 'set', 'web/x');
  t.match(noBody.stderr, /^error: expected --file or --data, got nothing\n/);
});
