import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError, type Config } from '../../config.js';
import { fail } from '../../errors.js';

/** A sealed secret as stored: this prefix, then base64url(iv 12 bytes | tag 16 bytes | ciphertext). */
const SEALED = 'aesgcm1:';
/** The key file's name in the data directory (SQLite mode). */
const SECRET_KEY_FILE = 'secret.key';

/**
 * Webhook secrets at rest: AES-256-GCM under a key kept outside the database, so a
 * backup (or a stolen data file) holds no usable secret. `seal` when a webhook is created, `open`
 * when a delivery is signed. A secret stored before encryption (no prefix) opens as itself until
 * the start-up pass seals it.
 */
export class SecretBox {
  constructor(private readonly key: Buffer | null) {}

  /** true when secrets can be sealed (a key is configured). */
  get enabled(): boolean {
    return this.key !== null;
  }

  static isSealed(stored: string): boolean {
    return stored.startsWith(SEALED);
  }

  seal(plain: string): string {
    if (plain === '') return '';
    if (this.key === null) throw fail('WEBHOOK_SECRET_NEEDS_KEY');
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', this.key, iv);
    const ct = Buffer.concat([c.update(plain, 'utf8'), c.final()]);
    return SEALED + Buffer.concat([iv, c.getAuthTag(), ct]).toString('base64url');
  }

  open(stored: string): string {
    if (!SecretBox.isSealed(stored)) return stored;
    if (this.key === null) throw fail('WEBHOOK_SECRET_SEALED_ELSEWHERE');
    const raw = Buffer.from(stored.slice(SEALED.length), 'base64url');
    try {
      const d = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, 12));
      d.setAuthTag(raw.subarray(12, 28));
      return Buffer.concat([d.update(raw.subarray(28)), d.final()]).toString('utf8');
    } catch {
      throw fail('WEBHOOK_SECRET_SEALED_ELSEWHERE');
    }
  }
}

const parseKey = (text: string, file: string): Buffer => {
  const hex = text.trim();
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) throw new ConfigError(`secret key file ${file} must hold 64 hex characters (e.g. \`openssl rand -hex 32 > ${path.basename(file)}\`)`);
  return Buffer.from(hex, 'hex');
};

/**
 * The key of the webhook secrets: `--secret-key-file` if given (it must exist); else, on SQLite,
 * `<data dir>/secret.key`, made at first start with mode 0600 (never part of a backup, which
 * copies data.db alone); else (cluster mode, nodes share no directory) none.
 */
export function loadSecretKey(config: Pick<Config, 'secretKeyFile' | 'dataDir' | 'database'>): Buffer | null {
  if (config.secretKeyFile !== '') {
    let text: string;
    try {
      text = fs.readFileSync(config.secretKeyFile, 'utf8');
    } catch (e) {
      throw new ConfigError(`cannot read --secret-key-file ${config.secretKeyFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    return parseKey(text, config.secretKeyFile);
  }
  if (config.database !== '') return null;
  const file = path.join(config.dataDir, SECRET_KEY_FILE);
  try {
    return parseKey(fs.readFileSync(file, 'utf8'), file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e instanceof ConfigError ? e : new ConfigError(`cannot read ${file}: ${(e as Error).message}`);
  }
  const key = randomBytes(32);
  try {
    // wx: never replace a key another start made meanwhile (that one is read instead).
    fs.writeFileSync(file, `${key.toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
    return key;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return parseKey(fs.readFileSync(file, 'utf8'), file);
    throw new ConfigError(`cannot create ${file}: ${(e as Error).message}`);
  }
}
