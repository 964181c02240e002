import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import t from 'tap';
import { tempDir } from '../helpers/server.js';
import { runCli } from './helpers.js';

/** https:// servers (TLS through node:tls) and a chunked reply, against a small HTTPS server. */

function selfSigned(dir: string): { key: string; cert: string } | null {
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'),
      '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { stdio: 'ignore' });
    return { key: path.join(dir, 'key.pem'), cert: path.join(dir, 'cert.pem') };
  } catch {
    return null;
  }
}

t.test('https server, chunked reply, certificate checked', async (t) => {
  const dir = tempDir(t);
  const pem = selfSigned(dir);
  if (pem === null) return t.skip('openssl not available');
  const seen: Array<{ url: string; auth: string | undefined; body: string }> = [];
  const server = https.createServer({ key: fs.readFileSync(pem.key), cert: fs.readFileSync(pem.cert) }, (req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      seen.push({ url: req.url!, auth: req.headers.authorization, body });
      res.writeHead(req.url === '/api/state/missing' ? 404 : 200, { 'content-type': 'application/json' });
      // Two writes without a length: Transfer-Encoding: chunked.
      res.write(req.url === '/api/state/missing' ? '{"error":"key not found: missing",' : '{"status":"ok",');
      res.end(req.url === '/api/state/missing' ? '"code":404}\n' : '"uptime":"1s"}\n');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const trusted = { KOOR_SERVER: url, KOOR_TOKEN: 'tok', NODE_EXTRA_CA_CERTS: pem.cert };

  const ok = await runCli(['status', '--pretty'], { cwd: dir, env: trusted });
  t.same([ok.code, ok.stdout, ok.stderr], [0, '{\n  "status": "ok",\n  "uptime": "1s"\n}\n', `project: ${path.basename(dir)} (folder name: not in a git repository)\n`]);
  const miss = await runCli(['state', 'get', 'missing'], { cwd: dir, env: trusted });
  t.same([miss.code, miss.stdout], [1, '{"error":"key not found: missing","code":404}\n']);
  const put = await runCli(['state', 'set', 'k', '--data', '{"a":1}'], { cwd: dir, env: trusted });
  t.equal(put.code, 0);
  t.same(seen.at(-1), { url: '/api/state/k', auth: 'Bearer tok', body: '{"a":1}' });

  const untrusted = await runCli(['status'], { cwd: dir, env: { KOOR_SERVER: url } });
  t.equal(untrusted.code, 1, 'a certificate nobody vouches for is refused');
  t.match(untrusted.stderr, /^error: request failed: .*(self[- ]signed|certificate)/i);
});

t.test('https:// against a plain-HTTP Koor: a TLS mismatch, named as such', async (t) => {
  const { startTestServer } = await import('../helpers/server.js');
  const s = await startTestServer(t);
  const dir = tempDir(t);
  const url = s.url.replace(/^http:/, 'https:');
  const r = await runCli(['status'], { cwd: dir, env: { KOOR_SERVER: url } });
  t.equal(r.code, 1);
  t.equal(r.stdout, '');
  const host = url.slice('https://'.length);
  t.match(r.stderr, new RegExp(`^error: request failed: (TLS mismatch: the server at ${host.replace(/\./g, '\\.')} does not speak TLS \\(it closed the connection during the TLS handshake\\): use http://${host.replace(/\./g, '\\.')}|.*wrong version number.*\\(the server does not speak TLS here: try http://\\))\n$`), 'says TLS, and what to use');
});
