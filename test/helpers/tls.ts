import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';

/** A throwaway self-signed certificate for 127.0.0.1 (a day), made with openssl in `dir`. */
export interface TestCert {
  cert: string;
  key: string;
  /** The certificate's PEM text: what a client trusts (it is its own CA). */
  ca: string;
}

/** The certificate, or why there is none (openssl missing or failing): the test skips with that reason. */
export function selfSignedCert(dir: string): TestCert | { skip: string } {
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-days', '1', '-keyout', key, '-out', cert], { encoding: 'utf8' });
  if (r.error) return { skip: `openssl is not available (${r.error.message}): cannot make a TLS certificate` };
  if (r.status !== 0) return { skip: `openssl failed to make a TLS certificate: ${r.stderr.trim()}` };
  return { cert, key, ca: fs.readFileSync(cert, 'utf8') };
}

export interface HttpsReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One request over node:https trusting `ca` only (no keep-alive). */
export function httpsRequest(url: string, ca: string | undefined, opts: { method?: string; body?: string | Buffer; headers?: Record<string, string> } = {}): Promise<HttpsReply> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method: opts.method ?? 'GET', headers: opts.headers ?? {}, agent: false, ...(ca === undefined ? {} : { ca }) }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
    req.end(opts.body);
  });
}
