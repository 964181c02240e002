import path from 'node:path';
import Database from 'better-sqlite3';
import { Tiktoken } from 'js-tiktoken/lite';
import o200k_base from 'js-tiktoken/ranks/o200k_base';
import t from 'tap';
import { client } from '../helpers/hook-client.js';
import { spawnServer, sqliteOnly, tempDir } from '../helpers/server.js';

/**
 * The edit guard answers in time: a PreToolUse of an edit whose lease cannot be checked and taken
 * within 2 s (here the writer is held up by another connection's exclusive lock on the data file;
 * in a cluster, a node cut off from its database) is denied as not confirmed, not left to run
 * past the client's timeout, which lets the edit through. Found by the Jepsen-style run
 * (bench/suites/jepsen.ts): hooks to a node cut off from PostgreSQL went unanswered.
 */
if (!sqliteOnly(t, 'holds the SQLite file locked')) {
  t.test('an edit hook the writer cannot serve in time is denied within the deadline, then allowed', async (t) => {
    const dir = tempDir(t);
    const s = await spawnServer(['--data-dir', dir, '--bind', '127.0.0.1:0', '--dashboard-bind', '']);
    t.teardown(() => void s.child.kill('SIGKILL'));
    const { call, session } = client(s.url);
    const a = session('dead0000-0000-4000-8000-00000000000a', '/work/shop', 'ann');
    await a.hook('UserPromptSubmit');
    t.same(await a.edit('src/a.ts'), {}, 'an edit of a free file is allowed (and auto-leased)');

    const lock = new Database(path.join(dir, 'data.db'));
    lock.exec('BEGIN EXCLUSIVE');
    const t0 = performance.now();
    const held = await a.edit('src/b.ts');
    const ms = performance.now() - t0;
    lock.exec('ROLLBACK');
    lock.close();
    t.equal(held.hookSpecificOutput?.permissionDecision, 'deny', 'the writer held up: the edit of a new file is denied');
    t.match(held.hookSpecificOutput?.permissionDecisionReason, /^Koor: could not confirm in time that no other agent leases \/work\/shop\/src\/b\.ts/, 'as not confirmed');
    const reason = held.hookSpecificOutput?.permissionDecisionReason ?? '';
    const tokens = new Tiktoken(o200k_base).encode(reason).length;
    t.ok(tokens <= 50, `the reason is short: ${tokens} tokens (o200k)`);
    t.ok(ms < 5000, `answered before Claude Code's 5-s timeout, which would let it through (${Math.round(ms)} ms)`);
    t.same(await a.edit('src/a.ts'), {}, 'meanwhile the file it holds needed no write');

    t.same(await a.edit('src/b.ts'), {}, 'the writer free again, the same edit is allowed');
    const leases = (await call('GET', '/api/leases?project=shop')).body as Array<{ resources: string[]; holder_name: string }>;
    // The held-up guard's own auto-lease may land too, beside the second one: ann's either way.
    t.same([...new Set(leases.map((l) => l.resources[0]))].sort(), ['src/a.ts', 'src/b.ts'], 'both files auto-leased');
    t.ok(leases.every((l) => l.holder_name === 'ann'), 'to ann');
    t.match(await (await fetch(`${s.url}/metrics`)).text(), /^koor_hook_unconfirmed_total 1$/m, 'counted');
  });
}
