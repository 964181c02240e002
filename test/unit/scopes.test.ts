import t from 'tap';
import { inScope, type Target } from '../../src/access.js';

/** A scoped token's reach: a name that is itself a glob must be contained, not matched as text. */

const state = (name: string | null): Target => ({ kind: 'state', name });
const topic = (name: string | null): Target => ({ kind: 'topic', name });
const path = (name: string | null): Target => ({ kind: 'path', name });

t.test('literal names match the scope glob', async (t) => {
  t.ok(inScope(['state:web/*'], state('web/a')));
  t.notOk(inScope(['state:web/*'], state('web/a/b')), 'one level');
  t.ok(inScope(['state:web/**'], state('web/a/b')));
  t.ok(inScope(['topic:ci.*'], topic('ci.build')));
  t.notOk(inScope(['topic:ci.*'], topic('cd.build')));
  t.ok(inScope(['path:src/**'], path('src/a/b.ts')));
  t.ok(inScope(['project:web'], path('web/x.ts')), 'a project reaches its files');
  t.ok(inScope(['project:web'], topic('web.x')), 'and its topics');
  t.notOk(inScope(['project:web'], state('webx/k')));
  t.notOk(inScope(['state:web/**'], state(null)), 'the whole collection: never');
});

t.test('a glob name is reached only when every name it matches is', async (t) => {
  // Each of these matched as text before (the scope glob matches the pattern's characters).
  t.notOk(inScope(['path:web/*'], path('web/**')), 'web/* does not contain web/**');
  t.notOk(inScope(['path:web/?'], path('web/*')));
  t.notOk(inScope(['path:*/docs/**'], path('**/docs/**')));
  t.notOk(inScope(['state:web/*'], state('web/**')), 'a prefix listing web/ reaches deeper than web/*');
  t.notOk(inScope(['topic:web.*'], topic('*')));
  t.notOk(inScope(['state:web/**'], state('we**')), 'a prefix reaching past the scope');
  t.notOk(inScope(['project:web'], topic('w*')));
  t.notOk(inScope(['topic:web.*'], topic('web.*/*')), "a topic * never crosses '/': web.*/* reaches web.a/b");
  t.notOk(inScope(['topic:web.*'], topic('web.[/]x')));
  // Contained.
  t.ok(inScope(['path:web/*'], path('web/*')), 'the same glob');
  t.ok(inScope(['path:web/**'], path('web/*.ts')));
  t.ok(inScope(['state:web/**'], state('web/a/**')));
  t.ok(inScope(['topic:web.*'], topic('web.**')));
  t.ok(inScope(['topic:web.*'], topic('web.*.done')));
  t.ok(inScope(['project:web'], state('web/**')));
  t.ok(inScope(['project:web'], topic('web.*')));
});
