import { CONFIG_KEYS, type ConfigKey, defineCommand, saveToken, SETTINGS_FILE, updateSettings, UsageError, writeOut } from '../core.js';

export default defineCommand({
  description: 'Set the server URL or CA file (./settings.json), or the token (your user config, never the repository)',
  details:
    '`server` and `ca_file` go into ./settings.json in the current directory (mode 0600, every other key kept). ' +
    'The `token` is a secret: it goes into your user config, $XDG_CONFIG_HOME/koor/config.json or ~/.config/koor/config.json (mode 0600), ' +
    'outside every repository, and a token ./settings.json still holds is taken out of it. ' +
    'The order: a command\'s own flag (`init --server`), then `KOOR_SERVER` / `KOOR_TOKEN` / `KOOR_CA_FILE` in the environment, then ./settings.json, then the user config. ' +
    '`ca_file` names the PEM file of the CA (or the self-signed certificate) of an https:// server; it replaces the public CAs for koor-cli, as curl --cacert does.',
  examples: [
    ['Point the CLI at another server', '$0 config set server http://10.0.0.5:9800'],
    ['Store the bearer token (in ~/.config/koor/config.json)', '$0 config set token s3cret'],
    ['Trust a self-signed https:// server', '$0 config set ca_file /etc/koor/cert.pem'],
  ],
  positionals: [{ name: 'key' }, { name: 'value' }],
  options: {},
  async run({ pos, ctx }) {
    if (!(CONFIG_KEYS as readonly string[]).includes(pos.key)) throw new UsageError(`unknown config key: ${pos.key} (valid: ${CONFIG_KEYS.join(', ')})`);
    if (pos.key === 'token') {
      const { file, movedFromSettings } = saveToken(ctx.cwd, process.env, pos.value);
      // A token is a secret: never echoed to a terminal, its scrollback or a CI log.
      writeOut(`config token set to **** in ${file}\n`);
      if (movedFromSettings) writeOut(`removed the token from ./${SETTINGS_FILE}\n`);
      return 0;
    }
    updateSettings(ctx.cwd, { [pos.key as ConfigKey]: pos.value });
    writeOut(`config ${pos.key} set to ${pos.value} in ./${SETTINGS_FILE}\n`);
    return 0;
  },
});
