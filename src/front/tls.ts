import crypto from 'node:crypto';
import fs from 'node:fs';
import type { AppOptions } from 'uWebSockets.js';
import { ConfigError, type Config } from '../config.js';

/**
 * The listeners' TLS options, or null for plain HTTP. The files are read and judged
 * here, in Node, before uWS sees them: uWS only says "App construction failed" for any bad file,
 * and OpenSSL, given an encrypted key without a passphrase, would ask for one on the terminal
 * (a server that hangs at start). So each mistake is a one-line ConfigError naming the file.
 */
export function tlsOptions(config: Pick<Config, 'tlsCert' | 'tlsKey' | 'tlsKeyPassphrase'>): AppOptions | null {
  const { tlsCert, tlsKey, tlsKeyPassphrase } = config;
  if (tlsCert === '' && tlsKey === '') return null;
  if (tlsCert === '' || tlsKey === '') throw new ConfigError(tlsCert === '' ? '--tls-key needs --tls-cert (the certificate it belongs to)' : '--tls-cert needs --tls-key (its private key)');
  const read = (file: string, what: string): string => {
    try {
      return fs.readFileSync(file, 'utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? '';
      throw new ConfigError(`cannot read ${what} ${file}: ${READ_ERRORS[code] ?? (e as Error).message}`);
    }
  };
  const certPem = read(tlsCert, '--tls-cert');
  const keyPem = read(tlsKey, '--tls-key');
  let cert: crypto.X509Certificate;
  try {
    cert = new crypto.X509Certificate(certPem);
  } catch {
    throw new ConfigError(`--tls-cert ${tlsCert}: not a PEM certificate`);
  }
  let key: crypto.KeyObject;
  try {
    key = crypto.createPrivateKey(tlsKeyPassphrase === '' ? keyPem : { key: keyPem, passphrase: tlsKeyPassphrase });
  } catch (e) {
    const encrypted = /ENCRYPTED/.test(keyPem);
    if (encrypted && tlsKeyPassphrase === '') throw new ConfigError(`--tls-key ${tlsKey}: the key is encrypted: give --tls-key-passphrase (or KOOR_TLS_KEY_PASSPHRASE)`);
    if (encrypted) throw new ConfigError(`--tls-key ${tlsKey}: wrong --tls-key-passphrase`);
    throw new ConfigError(`--tls-key ${tlsKey}: not a PEM private key (${(e as Error).message})`);
  }
  if (!cert.checkPrivateKey(key)) throw new ConfigError(`--tls-key ${tlsKey} is not the private key of --tls-cert ${tlsCert}`);
  return { cert_file_name: tlsCert, key_file_name: tlsKey, ...(tlsKeyPassphrase === '' ? {} : { passphrase: tlsKeyPassphrase }) };
}

const READ_ERRORS: Record<string, string> = { ENOENT: 'no such file', EACCES: 'permission denied', EISDIR: 'a directory, not a file' };
