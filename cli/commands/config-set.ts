import { CONFIG_KEYS, type ConfigKey, defineCommand, updateSettings, UsageError, writeOut } from '../core.js';

export default defineCommand({
  description: 'Set the server URL, token or CA file in ./settings.json',
  details: 'Rewrites ./settings.json in the current directory (mode 0600), keeping every other key. `KOOR_SERVER` / `KOOR_TOKEN` / `KOOR_CA_FILE` in the environment override the file. ' +
    '`ca_file` names the PEM file of the CA (or the self-signed certificate) of an https:// server; it replaces the public CAs for koor-cli, as curl --cacert does.',
  examples: [
    ['Point the CLI at another server', '$0 config set server http://10.0.0.5:9800'],
    ['Store the bearer token', '$0 config set token s3cret'],
    ['Trust a self-signed https:// server', '$0 config set ca_file /etc/koor/cert.pem'],
  ],
  positionals: [{ name: 'key' }, { name: 'value' }],
  options: {},
  async run({ pos, ctx }) {
    if (!(CONFIG_KEYS as readonly string[]).includes(pos.key)) throw new UsageError(`unknown config key: ${pos.key} (valid: ${CONFIG_KEYS.join(', ')})`);
    updateSettings(ctx.cwd, { [pos.key as ConfigKey]: pos.value });
    // A token is a secret: never echoed to a terminal, its scrollback or a CI log.
    writeOut(`config ${pos.key} set to ${pos.key === 'token' ? '****' : pos.value}\n`);
    return 0;
  },
});
