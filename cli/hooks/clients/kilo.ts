/**
 * Kilo Code's CLI (`@kilocode/cli`), built on OpenCode: the same plugin API and events, so the same
 * plugin (./opencode-plugin.ts) serves it, but Kilo reads a project's plugins from
 * `.kilo/plugins/` only (not `.opencode/`). Verified with the real @kilocode/cli 7.7.7
 * (test/helpers/OPENCODE-FACTS.md: the pinned 7.8.1 has no Linux binary on the registry): its
 * refusal, auto-lease, shell variable and end behave as OpenCode's. `kilo run` refuses the shell
 * tool and other asked permissions unless run with `--auto`.
 */
import { pluginAdapter } from './opencode.js';

export const kilo = pluginAdapter({
  name: 'kilo',
  title: 'Kilo Code',
  configDir: '.kilo',
  initHelp: 'Also install the Kilo Code plugin (.kilo/plugins/koor.js: it calls the server from inside Kilo, no token in the file)',
});
