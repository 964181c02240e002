import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { startTestServer, tempDir } from '../helpers/server.js';
import { cliFor } from './helpers.js';

interface Ev {
  id: number;
  topic: string;
  data: unknown;
  source: string;
  created_at: string;
}

t.test('events publish and history', async (t) => {
  const s = await startTestServer(t);
  const dir = tempDir(t);
  const cli = cliFor(s.url, dir);

  const p1 = await cli('events', 'publish', 'api.change', '--data', '{"endpoint":"/users","n":1.0}');
  t.equal(p1.code, 0, p1.stderr);
  t.match(p1.stdout, /^\{"id":1,"topic":"api\.change","data":\{"endpoint":"\/users","n":1\.0\},"source":"","created_at":"[^"]+Z"\}\n$/, 'data spliced verbatim');

  const file = path.join(dir, 'result.json');
  fs.writeFileSync(file, '[1, 2, 3]\n');
  const p2 = await cli('events', 'publish', 'build.done', '--file', file, '--source', 'ci');
  const e2 = JSON.parse(p2.stdout) as Ev;
  t.same([e2.id, e2.data, e2.source], [2, [1, 2, 3], 'ci']);

  const p3 = await cli('events', 'publish', 'weird "topic"\\x');
  const e3 = JSON.parse(p3.stdout) as Ev;
  t.same([e3.topic, e3.data], ['weird "topic"\\x', null], 'topic JSON-escaped; no data → null');

  const bad = await cli('events', 'publish', 'x', '--data', 'not json');
  t.same([bad.code, JSON.parse(bad.stdout)], [1, { error: 'invalid JSON body', code: 400 }], 'data must be JSON: the server says so, exit 1');

  const hist = JSON.parse((await cli('events', 'history')).stdout) as Ev[];
  t.same(hist.map((e) => e.id), [3, 2, 1], 'newest first');
  t.same((JSON.parse((await cli('events', 'history', '--last', '1')).stdout) as Ev[]).map((e) => e.id), [3]);
  t.same((JSON.parse((await cli('events', 'history', '--topic', 'api.*')).stdout) as Ev[]).map((e) => e.id), [1]);
  t.same((JSON.parse((await cli('events', 'history', '--source', 'ci')).stdout) as Ev[]).map((e) => e.id), [2]);
  t.same((JSON.parse((await cli('events', 'history', '--since', '1')).stdout) as Ev[]).map((e) => e.id), [2, 3], 'since: oldest first');
  t.same((JSON.parse((await cli('events', 'history', '--before', '3')).stdout) as Ev[]).map((e) => e.id), [2, 1], 'before: the X-Koor-Next cursor, newest first below it');
  const future = new Date(Date.now() + 3600_000).toISOString().replace(/\.\d+Z$/, '+00:00');
  t.same(JSON.parse((await cli('events', 'history', '--from', future)).stdout), [], '--from with a + sign is encoded, so it parses');
  const pretty = await cli('events', 'history', '--last', '1', '--pretty');
  t.match(pretty.stdout, /^\[\n  \{\n    "id": 3,\n    "topic": "weird \\"topic\\"\\\\x",\n    "data": null,\n/);
});
