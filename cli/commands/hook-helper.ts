import { CliError, defineCommand } from '../core.js';
import { serveHelper } from '../hooks/helper.js';

export default defineCommand({
  description: "Serve koor-hook's calls from one resident process (started by `koor-cli hook --helper`; exits when idle)",
  details:
    'The resident hook helper: listens on a loopback port, writes `<port> <key> <proof> <pid>` to <file> (mode 0600), and answers ' +
    'each hook call koor-hook hands it with the same bridge as `koor-cli hook`, in a few milliseconds instead of a Node start. ' +
    'Only a caller that read <file> is served, and koor-hook sends nothing before the helper has shown it read the file too. It exits ' +
    'after KOOR_HOOK_IDLE_S seconds without a call (default 1800), when its code changes on disk (an upgrade), or when another ' +
    'helper takes <file> over. koor-hook names <file> and `koor-cli hook --helper` starts this; there is no need to run it by hand.',
  examples: [['What koor-hook starts', 'koor-cli hook-helper /run/user/1000/koor-hook-1000-_usr_local_bin_koor_hook']],
  positionals: [{ name: 'file' }],
  options: {},
  async run({ pos }) {
    try {
      await serveHelper(pos.file);
    } catch (e) {
      throw new CliError(`hook helper: ${(e as Error).message}`);
    }
    return 0;
  },
});
