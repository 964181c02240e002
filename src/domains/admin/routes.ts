import { readBodyToFile } from '../../http/body.js';
import { sendFile, sendJson } from '../../http/reply.js';
import { type Route, SNAPSHOT } from '../../http/route.js';
import type { AdminService } from './service.js';
import { RestoreReply } from '../../../schemas/http/admin.js';
import { rule } from '../../http/permissions.js';

/** `20261122T231501Z`: a UTC stamp that sorts and is safe in a file name. */
const stamp = (d: Date): string => d.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');

export function adminRoutes(svc: AdminService, bootId: string): Route[] {
  return [
    {
      // The body is a snapshot from /api/admin/backup; the server restarts on it. The
      // reply names this server's boot id: the one that answers /health next has another. In
      // cluster mode nothing restarts: the database was replaced when the reply comes
      // (`restoring: false`).
      method: 'POST',
      path: '/api/admin/restore',
      summary: 'Restore the database from a snapshot',
      rule: rule('admin', 'restore backups'),
      replies: { 200: RestoreReply },
      raw: SNAPSHOT,
      counted: false,
      handler: (ctx) =>
        svc.restore({ toFile: (file, cap) => readBodyToFile(ctx, cap, file), discard: () => ctx.res.onData(() => {}) }, (info, restarting) => sendJson(ctx, 200, { restoring: restarting, boot: bootId, schema_version: info.version, bytes: info.bytes, counts: info.counts })),
    },
    {
      // A consistent snapshot of the whole database, taken online. Tokens are in it
      // as hashes and webhook secrets encrypted; still, keep the file private.
      method: 'GET',
      path: '/api/admin/backup',
      summary: 'Download a consistent snapshot of the database',
      rule: rule('admin', 'take backups'),
      replies: { 200: SNAPSHOT },
      counted: false,
      handler: (ctx) =>
        svc.withSnapshot((file, snap) =>
          sendFile(ctx, 200, file, 'application/vnd.sqlite3', [
            ['Content-Disposition', `attachment; filename="koor-backup-${stamp(new Date())}.db"`],
            ['Cache-Control', 'no-store'],
            ['X-Koor-Schema-Version', String(snap.version)],
            ['X-Koor-State-Keys', String(snap.counts.state_keys)],
            ['X-Koor-Rules', String(snap.counts.rules)],
            ['X-Koor-Specs', String(snap.counts.specs)],
            ['X-Koor-Events', String(snap.counts.events)],
            ['X-Koor-Instances', String(snap.counts.instances)],
          ]),
        ),
    },
  ];
}
