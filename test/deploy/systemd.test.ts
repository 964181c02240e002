/**
 * deploy/koor.service as systemd itself reads it: `systemd-analyze verify` accepts it without a
 * warning, and `systemd-analyze security --offline` confirms the hardening the recipe promises
 * (and that MemoryDenyWriteExecute, which would kill V8's JIT, is off). Skipped with the reason
 * where systemd-analyze is absent or too old for offline analysis.
 */
import { spawnSync } from 'node:child_process';
import t from 'tap';
import { repoPath } from '../helpers/paths.js';

const UNIT = repoPath('deploy', 'koor.service');

const analyze = (args: string[]) => spawnSync('systemd-analyze', args, { encoding: 'utf8', timeout: 30_000 });

const probe = analyze(['--version']);
if (probe.error || probe.status !== 0) {
  t.skip(`systemd-analyze is not installed here: deploy/koor.service was not verified (${probe.error?.message ?? probe.stderr.trim()})`);
} else {
  t.test('systemd-analyze verify accepts the unit without a warning', async (t) => {
    const r = analyze(['verify', UNIT]);
    t.equal(r.status, 0, `verify exit status (${r.stderr.trim()})`);
    t.equal(r.stderr.trim(), '', 'no warning');
  });

  t.test('the hardening is in force and MemoryDenyWriteExecute is not', async (t) => {
    const r = analyze(['security', '--offline=yes', '--json=short', UNIT]);
    if (r.status !== 0 && /offline|json|unrecognized option/i.test(r.stderr)) {
      t.skip(`this systemd-analyze cannot review a unit file offline: ${r.stderr.trim()}`);
      return;
    }
    t.equal(r.status, 0, `security review ran (${r.stderr.trim()})`);
    const checks = JSON.parse(r.stdout) as Array<{ name: string; set: boolean }>;
    const isSet = new Map(checks.map((c) => [c.name, c.set]));
    for (const name of [
      'User=/DynamicUser=',
      'ProtectSystem=',
      'ProtectHome=',
      'PrivateTmp=',
      'NoNewPrivileges=',
      'PrivateDevices=',
      'RestrictAddressFamilies=~AF_PACKET',
      'RestrictAddressFamilies=~AF_NETLINK',
      'RestrictAddressFamilies=~…',
      'SystemCallFilter=~@privileged',
      'SystemCallFilter=~@mount',
      'SystemCallFilter=~@debug',
      'CapabilityBoundingSet=~CAP_SYS_ADMIN',
      'CapabilityBoundingSet=~CAP_NET_ADMIN',
      'ProtectKernelTunables=',
      'ProtectControlGroups=',
      'RestrictSUIDSGID=',
    ]) {
      t.equal(isSet.get(name), true, `${name} in force`);
    }
    t.equal(isSet.get('MemoryDenyWriteExecute='), false, 'MemoryDenyWriteExecute is off (V8 JIT needs W+X pages)');

    // systemd's own score: 0 (locked down) … 100 (exposed); --threshold fails above N.
    const score = analyze(['security', '--offline=yes', '--threshold=20', UNIT]);
    t.equal(score.status, 0, `overall exposure at most 2.0 ("OK"): ${score.stdout.trim().split('\n').pop()}`);
  });
}
