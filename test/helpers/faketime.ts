import fs from 'node:fs';
import { provided, type Needed } from './apt.js';

/** Debian's libfaketime: LD_PRELOADed into a server to step its wall clock while it runs. */
export const FAKETIME: Needed = {
  pkg: 'faketime',
  find: () => ['/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1', '/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1', '/usr/lib/faketime/libfaketime.so.1'].find((p) => fs.existsSync(p)) ?? null,
};

/** libfaketime's path (installed by the test setup, test/setup/install.ts), or why it cannot be had. */
export function ensureFaketime(): { path: string } | { skip: string } {
  return provided(FAKETIME);
}
