/**
 * The cluster recipe (deploy/cluster/): its compose.yaml read as YAML (PostgreSQL, three
 * hardened koor nodes with the same token and a database URL, nginx as the only published
 * entry point) and checked against nginx.conf (every upstream names exactly the compose nodes);
 * nginx.conf accepted by `nginx -t` and run in front of three stand-in nodes (plain HTTP servers
 * that say who answered) to check what it promises: REST spread over the nodes, reads retried
 * on another node, PUT/DELETE/POST never re-sent once they reached a node, a POST moved past a
 * refused connection, /mcp sticky and unbuffered, the WebSocket upgrade, the 10 MiB cap, the
 * dashboard on koor-1. The real file is used; only the node names (which resolve inside Compose
 * only), listen ports, temp paths and pid file are swapped for local ones. Debian's nginx is
 * installed by the test setup (test/setup/install.ts) when absent and root; without it those
 * parts are skipped with the reason. `docker compose config` runs when Docker Compose is installed, else is skipped.
 */
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import t from 'tap';
import WebSocket, { WebSocketServer } from 'ws';
import { parse as parseYaml } from 'yaml';
import { loadConfig } from '../../src/config.js';
import { ensureNginx, freePorts, runNginx } from '../helpers/nginx.js';
import { tempDir } from '../helpers/server.js';
import { waitUntil } from '../helpers/wait.js';
import { repoPath } from '../helpers/paths.js';

const DIR = `${repoPath('deploy', 'cluster')}/`;
const COMPOSE = path.join(DIR, 'compose.yaml');
const CONF = path.join(DIR, 'nginx.conf');
const BODY_CAP = 10 * 1024 * 1024;

type Service = Record<string, unknown> & {
  image?: string;
  build?: { context: string; dockerfile: string };
  environment?: Record<string, string>;
  command?: string[];
  depends_on?: Record<string, { condition: string }>;
  volumes?: string[];
  ports?: string[];
  tmpfs?: string[];
  cap_drop?: string[];
  security_opt?: string[];
  healthcheck?: { test: string[] };
};

const composeText = fs.readFileSync(COMPOSE, 'utf8');
// `merge: true`: the nodes share their settings through a YAML merge key (<<), as Compose reads it.
const compose = parseYaml(composeText, { merge: true }) as { services: Record<string, Service>; volumes?: Record<string, unknown> };
const services = compose.services;
const nodeNames = Object.keys(services).filter((n) => services[n]!.build !== undefined).sort();
const confText = fs.readFileSync(CONF, 'utf8');

/** `upstream NAME { ... server HOST:PORT ...; }` → NAME → [HOST:PORT]. */
function upstreams(conf: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const noComments = conf.replace(/#.*$/gm, '');
  for (const m of noComments.matchAll(/upstream\s+(\w+)\s*\{([^}]*)\}/g)) {
    out.set(m[1]!, [...m[2]!.matchAll(/^\s*server\s+(\S+?)[\s;]/gm)].map((s) => s[1]!));
  }
  return out;
}

t.test('compose.yaml: PostgreSQL, three hardened nodes with one token and a database URL, nginx in front', async (t) => {
  t.same(nodeNames, ['koor-1', 'koor-2', 'koor-3'], 'three koor nodes, built from the repository');

  const pg = services.postgres!;
  t.equal(pg.image, 'postgres:15', 'the official postgres:15 image');
  t.match(pg.environment!.POSTGRES_PASSWORD, /^\$\{KOOR_PG_PASSWORD:\?.+\}$/, 'its password comes from a required variable');
  const pgVolume = pg.volumes!.find((v) => v.endsWith(':/var/lib/postgresql/data'));
  t.ok(pgVolume, 'its data directory is on a volume');
  t.ok(compose.volumes && pgVolume!.split(':')[0]! in compose.volumes, 'a named volume');
  t.equal(pg.healthcheck!.test[1], 'pg_isready', 'health checked with pg_isready');
  t.notOk(pg.ports, 'PostgreSQL is not published');

  const tokens = new Set<string>();
  for (const name of nodeNames) {
    const s = services[name]!;
    const env = s.environment!;
    t.equal(path.resolve(DIR, s.build!.context, s.build!.dockerfile), repoPath('deploy', 'Dockerfile'), `${name}: built from deploy/Dockerfile`);
    t.match(env.KOOR_AUTH_TOKEN, /^\$\{KOOR_AUTH_TOKEN:\?.+\}$/, `${name}: KOOR_AUTH_TOKEN is required`);
    tokens.add(env.KOOR_AUTH_TOKEN!);
    t.match(env.KOOR_DATABASE_URL, /^postgres:\/\/koor:\$\{KOOR_PG_PASSWORD(:\?[^}]*)?\}@postgres:5432\/koor$/, `${name}: KOOR_DATABASE_URL points at the postgres service with the same password`);
    t.equal(env.KOOR_BIND, '0.0.0.0:9800', `${name}: KOOR_BIND`);
    t.same(s.depends_on?.postgres, { condition: 'service_healthy' }, `${name}: waits for a healthy PostgreSQL`);
    t.notOk(s.ports, `${name}: not published (nginx is the entry point)`);
    // The hardening of deploy/compose.yaml.
    t.equal(s.read_only, true, `${name}: read-only root file system`);
    t.ok(s.tmpfs?.includes('/tmp'), `${name}: /tmp on tmpfs`);
    t.same(s.cap_drop, ['ALL'], `${name}: no capability`);
    t.ok(s.security_opt?.includes('no-new-privileges:true'), `${name}: no-new-privileges`);
    t.match(s.healthcheck?.test.join(' '), /\/health/, `${name}: health checked on /health`);
    t.equal(s.stop_grace_period, '15s', `${name}: 15 s to stop`);
    // The image's CMD (with --bind and --data-dir flags, which would beat the environment) is replaced.
    t.ok(Array.isArray(s.command) && !s.command.some((a) => /^--(bind|data-dir)\b/.test(a)), `${name}: its command leaves bind and data dir to the environment`);
  }
  t.equal(tokens.size, 1, 'every node has the same KOOR_AUTH_TOKEN reference');

  const dashboards = nodeNames.filter((n) => services[n]!.command!.some((a, i, all) => a === '--dashboard-bind' && all[i + 1] === '0.0.0.0:9847'));
  t.same(dashboards, ['koor-1'], 'the dashboard listens on koor-1 only');
  for (const n of nodeNames.filter((x) => x !== 'koor-1')) t.ok(services[n]!.command!.includes('--dashboard-bind='), `${n}: dashboard off`);

  const nginx = services.nginx!;
  t.match(nginx.image, /^nginx:/, 'the official nginx image');
  t.ok(nginx.volumes!.includes('./nginx.conf:/etc/nginx/nginx.conf:ro'), 'nginx.conf mounted read-only as the main config');
  t.same(nginx.ports, ['127.0.0.1:9800:9800', '127.0.0.1:9847:9847'], 'published on the host loopback only');
  t.same(Object.keys(nginx.depends_on ?? {}).sort(), nodeNames, 'nginx starts after the nodes (it resolves their names)');
  const published = Object.entries(services).filter(([, s]) => s.ports).map(([n]) => n);
  t.same(published, ['nginx'], 'nginx is the only published service');
});

t.test('nginx.conf: self-contained, its upstreams name exactly the compose nodes, body cap = koor default', async (t) => {
  t.notMatch(confText.replace(/#.*$/gm, ''), /^\s*include\s/m, 'no include: one file');
  const ups = upstreams(confText);
  const nodes = nodeNames.map((n) => `${n}:9800`);
  t.same(ups.get('koor_nodes'), nodes, 'REST/WebSocket upstream: all three nodes');
  t.same(ups.get('koor_by_client'), nodes, 'MCP and hooks upstream: all three nodes');
  t.match(confText, /upstream koor_by_client \{\s*(#[^\n]*\n\s*)*hash \$binary_remote_addr consistent;/, 'MCP and hooks upstream sticks by client address');
  t.match(confText, /location = \/mcp \{[^}]*proxy_pass http:\/\/koor_by_client;/, '/mcp goes through it');
  t.match(confText, /location \^~ \/api\/hooks\/ \{[^}]*proxy_pass http:\/\/koor_by_client;/, 'and so do the hooks');
  t.same(ups.get('koor_dashboard'), ['koor-1:9847'], 'dashboard upstream: the one node that serves it');
  for (const [name, servers] of ups) {
    for (const s of servers) t.ok(nodeNames.includes(s.split(':')[0]!), `${name}: ${s} is a compose service`);
  }
  const cap = /client_max_body_size\s+(\d+)m;/.exec(confText);
  const koorDefault = loadConfig([], {}, os.tmpdir()).maxBodyBytes;
  t.equal(Number(cap?.[1]) * 1024 * 1024, koorDefault, `client_max_body_size equals koor's default body cap (${koorDefault})`);
});

t.test('docker compose config accepts compose.yaml', async (t) => {
  const probe = spawnSync('docker', ['compose', 'version'], { encoding: 'utf8', timeout: 10_000 });
  if (probe.error || probe.status !== 0) {
    t.skip(`docker compose is not available here: compose.yaml was checked as YAML only (${(probe.error?.message ?? probe.stderr).trim().split('\n')[0]})`);
    return;
  }
  const env = { ...process.env, KOOR_AUTH_TOKEN: 'a'.repeat(64), KOOR_PG_PASSWORD: 'b'.repeat(48) };
  const ok = spawnSync('docker', ['compose', '-f', COMPOSE, 'config', '--quiet'], { encoding: 'utf8', timeout: 30_000, env });
  t.equal(ok.status, 0, `docker compose config: ${ok.stderr.trim()}`);
  const { KOOR_AUTH_TOKEN: _drop, ...noToken } = env;
  const refused = spawnSync('docker', ['compose', '-f', COMPOSE, 'config', '--quiet'], { encoding: 'utf8', timeout: 30_000, env: noToken });
  t.not(refused.status, 0, 'refused without KOOR_AUTH_TOKEN');
  t.match(refused.stderr, /KOOR_AUTH_TOKEN/);
});

// ---------------------------------------------------------------- nginx, run for real

/** Replaces every match of `re` (global), failing unless it matched exactly `count` times. */
function swap(text: string, re: RegExp, count: number, by: (m: RegExpMatchArray) => string): string {
  let n = 0;
  const out = text.replace(re, (...args) => {
    n++;
    return by(args.slice(0, -2) as unknown as RegExpMatchArray);
  });
  if (n !== count) throw new Error(`expected ${count} matches of ${re} in nginx.conf, found ${n}`);
  return out;
}

interface Hit {
  node: string;
  method: string;
  url: string;
  id: string;
  headers: http.IncomingHttpHeaders;
}

type Mode = 'ok' | 'reset';

/** A stand-in koor node: answers {"node":…} (or resets the connection in 'reset' mode), records every request. */
async function standIn(t: Tap.Test, node: string, port: number, hits: Hit[], mode: () => Mode): Promise<void> {
  const server = http.createServer((req, res) => {
    hits.push({ node, method: req.method!, url: req.url!, id: String(req.headers['x-test-id'] ?? ''), headers: req.headers });
    if (mode() === 'reset') {
      req.socket.destroy();
      return;
    }
    if (req.url === '/mcp' && req.method === 'GET') {
      // An SSE stream that stays open: a first chunk at once, nothing more.
      res.writeHead(200, { 'content-type': 'text/event-stream', 'mcp-session-id': String(req.headers['mcp-session-id'] ?? '') });
      res.write(': open\n\n');
      return;
    }
    let size = 0;
    req.on('data', (c: Buffer) => (size += c.length));
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': String(req.headers['mcp-session-id'] ?? '') });
      res.end(JSON.stringify({ node, size }) + '\n');
    });
  });
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws, req) => ws.send(JSON.stringify({ node, url: req.url })));
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const c of wss.clients) c.terminate();
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
}

interface Prepared {
  /** nginx's command line, without -t / daemon off. */
  args: string[];
  globals: string;
  api: number;
  dash: number;
}

/**
 * The real nginx.conf, pointed at local stand-ins: its three nodes at `nodePorts`, koor-1's
 * dashboard at `dashPort`, listening on two free loopback ports, temp files in a temp dir.
 */
async function prepare(t: Tap.Test, nodePorts: number[], dashPort: number): Promise<Prepared> {
  const dir = tempDir(t, 'koor-cluster-nginx-');
  const temp = (n: string) => path.join(dir, n);
  const [api, dash] = (await freePorts(2)) as [number, number];
  let conf = swap(confText, /\bkoor-(\d):9800\b/g, 6, (m) => `127.0.0.1:${nodePorts[Number(m[1]) - 1]}`);
  conf = swap(conf, /\bkoor-1:9847\b/g, 1, () => `127.0.0.1:${dashPort}`);
  conf = swap(conf, /^(\s*)listen 9800;$/gm, 1, (m) => `${m[1]}listen 127.0.0.1:${api};`);
  conf = swap(conf, /^(\s*)listen 9847;$/gm, 1, (m) => `${m[1]}listen 127.0.0.1:${dash};`);
  conf = swap(conf, /^http \{$/gm, 1, () => ['http {', ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((k) => `    ${k}_temp_path ${temp(k)};`)].join('\n'));
  fs.writeFileSync(temp('nginx.conf'), conf);
  // As root, workers keep root's rights (the temp dir is private to it).
  const globals = `pid ${temp('nginx.pid')};${process.getuid?.() === 0 ? ' user root root;' : ''}`;
  return { args: ['-p', dir, '-c', temp('nginx.conf'), '-e', temp('error.log')], globals, api, dash };
}

function nginxTest(nginxPath: string, p: Prepared) {
  return spawnSync(nginxPath, [...p.args, '-g', p.globals, '-t'], { encoding: 'utf8' });
}

/** nginx running `prepare`'s config; its two base URLs. Stopped at teardown. */
async function startNginx(t: Tap.Test, nginxPath: string, nodePorts: number[], dashPort: number): Promise<{ base: string; dash: string }> {
  const p = await prepare(t, nodePorts, dashPort);
  const tested = nginxTest(nginxPath, p);
  if (tested.status !== 0) throw new Error(`nginx -t failed: ${tested.stderr}`);
  const nginx = runNginx(t, nginxPath, p.args, p.globals);
  await waitUntil('nginx to listen', async () => {
    if (nginx.exited()) throw new Error(`nginx exited: ${nginx.stderr()}`);
    return new Promise<boolean>((resolve) => {
      const s = net.connect(p.api, '127.0.0.1', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
  });
  return { base: `http://127.0.0.1:${p.api}`, dash: `http://127.0.0.1:${p.dash}` };
}

/** One request on a fresh connection (no keep-alive, so each one goes through nginx's balancing afresh). */
function request(url: string, opts: { method?: string; id?: string; body?: Buffer | string; headers?: Record<string, string> } = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const body = opts.body === undefined ? undefined : Buffer.from(opts.body);
    const req = http.request(url, {
      method: opts.method ?? 'GET',
      agent: false,
      headers: { ...(opts.id ? { 'x-test-id': opts.id } : {}), ...(body ? { 'content-length': String(body.length) } : {}), ...opts.headers },
    });
    req.once('error', reject);
    req.once('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.once('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.end(body);
  });
}

t.test('nginx.conf in front of three stand-in nodes', async (t) => {
  const provided = ensureNginx();
  if ('skip' in provided) {
    t.skip(provided.skip);
    return;
  }
  const nginxPath = provided.path;

  t.test('nginx -t accepts it', async (t) => {
    // Ports nothing listens on: -t only parses (node names are what would not resolve here).
    const ports = await freePorts(4);
    const tested = nginxTest(nginxPath, await prepare(t, ports.slice(0, 3), ports[3]!));
    t.equal(tested.status, 0, `nginx -t: ${tested.stderr.trim()}`);
  });

  t.test('all nodes up: REST spread, WebSocket, MCP sticky and streamed, body cap, dashboard', async (t) => {
    const ports = await freePorts(4);
    const hits: Hit[] = [];
    for (const [i, p] of ports.slice(0, 3).entries()) await standIn(t, `koor-${i + 1}`, p, hits, () => 'ok');
    await standIn(t, 'koor-1-dashboard', ports[3]!, hits, () => 'ok');
    const front = await startNginx(t, nginxPath, ports.slice(0, 3), ports[3]!);

    const seen = new Set<string>();
    for (let i = 0; i < 12; i++) {
      const r = await request(`${front.base}/api/state/k%2Fx?limit=1`, { id: `spread-${i}` });
      t.equal(r.status, 200);
      seen.add(JSON.parse(r.body).node);
    }
    t.same([...seen].sort(), ['koor-1', 'koor-2', 'koor-3'], 'REST requests reach all three nodes');
    t.ok(hits.filter((h) => h.id.startsWith('spread-')).every((h) => h.url === '/api/state/k%2Fx?limit=1'), 'the URI reaches the node as sent (encoded slash kept)');
    const fwd = hits.find((h) => h.id === 'spread-0')!.headers;
    t.equal(fwd['x-forwarded-proto'], 'http');
    t.equal(fwd['x-real-ip'], '127.0.0.1', 'X-Real-IP added');
    const auth = await request(`${front.base}/api/state`, { id: 'auth', headers: { authorization: 'Bearer s3cret' } });
    t.equal(auth.status, 200);
    t.equal(hits.find((h) => h.id === 'auth')!.headers.authorization, 'Bearer s3cret', 'Authorization passes through');

    // WebSocket upgrade on any node.
    const ws = new WebSocket(`${front.base.replace('http', 'ws')}/api/events/subscribe?pattern=a.*&since=3`);
    t.teardown(() => ws.terminate());
    const hello = await new Promise<{ node: string; url: string }>((resolve, reject) => {
      ws.once('message', (m) => resolve(JSON.parse(m.toString())));
      ws.once('error', reject);
    });
    t.match(hello, { node: /^koor-[123]$/, url: '/api/events/subscribe?pattern=a.*&since=3' }, 'the WebSocket upgrade reaches a node');
    ws.close();

    // MCP: every request of one client on one node, the session id both ways, the stream unbuffered.
    const mcpNodes = new Set<string>();
    for (let i = 0; i < 9; i++) {
      const r = await request(`${front.base}/mcp`, { method: i % 3 === 2 ? 'DELETE' : 'POST', id: `mcp-${i}`, body: i % 3 === 2 ? undefined : '{}', headers: i === 0 ? {} : { 'mcp-session-id': 'sess-1' } });
      t.equal(r.status, 200);
      mcpNodes.add(JSON.parse(r.body).node);
      if (i > 0) t.equal(r.headers['mcp-session-id'], 'sess-1', 'Mcp-Session-Id passes both ways');
    }
    t.equal(mcpNodes.size, 1, `all /mcp requests of one client on one node (${[...mcpNodes].join(',')})`);
    const hookNodes = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const r = await request(`${front.base}/api/hooks/claude-code`, { method: 'POST', id: `hook-${i}`, body: '{}' });
      t.equal(r.status, 200);
      hookNodes.add(JSON.parse(r.body).node);
    }
    t.equal(hookNodes.size, 1, `all hooks of one client on one node (${[...hookNodes].join(',')})`);
    const firstChunk = await new Promise<{ node: string; chunk: string }>((resolve, reject) => {
      const req = http.get(`${front.base}/mcp`, { agent: false, headers: { 'x-test-id': 'mcp-stream', accept: 'text/event-stream', 'mcp-session-id': 'sess-1' } }, (res) => {
        res.once('data', (c: Buffer) => {
          resolve({ node: hits.find((h) => h.id === 'mcp-stream')!.node, chunk: c.toString() });
          req.destroy();
        });
      });
      req.once('error', reject);
    });
    t.equal(firstChunk.chunk, ': open\n\n', 'the open GET /mcp event stream is passed on unbuffered');
    t.ok(mcpNodes.has(firstChunk.node), 'on the same node');

    // Body cap: exactly 10 MiB passes, one byte more is nginx's 413 in koor's shape.
    const atCap = await request(`${front.base}/api/state/big`, { method: 'PUT', body: Buffer.alloc(BODY_CAP, 'a') });
    t.equal(atCap.status, 200, '10 MiB passes');
    t.equal(JSON.parse(atCap.body).size, BODY_CAP, 'and arrives whole');
    const over = await request(`${front.base}/api/state/big`, { method: 'PUT', id: 'over', body: Buffer.alloc(BODY_CAP + 1, 'a') });
    t.equal(over.status, 413, 'one byte over: 413');
    t.same(JSON.parse(over.body), { error: 'body too large', code: 413 }, "in koor's error shape");
    t.notOk(hits.some((h) => h.id === 'over'), 'and no node saw it');
    const overPost = await request(`${front.base}/api/events/publish`, { method: 'POST', body: Buffer.alloc(BODY_CAP + 1, 'a') });
    t.equal(overPost.status, 413, 'the same for a POST');

    // The dashboard port goes to koor-1's dashboard listener only.
    for (let i = 0; i < 3; i++) {
      const r = await request(`${front.dash}/`, { id: `dash-${i}` });
      t.equal(JSON.parse(r.body).node, 'koor-1-dashboard', 'dashboard: koor-1');
    }
  });

  t.test('nodes that fail after receiving the request: only GET is tried on another node', async (t) => {
    const ports = await freePorts(4);
    const hits: Hit[] = [];
    for (const [i, p] of ports.slice(0, 3).entries()) await standIn(t, `koor-${i + 1}`, p, hits, () => 'reset');
    // A fresh nginx per request: nginx leaves a failed node out for 10 s, which would change
    // what the next request may try.
    const cases: Array<[string, string, number]> = [
      ['GET', '/api/state/k', 3],
      ['HEAD', '/api/state/k', 3],
      ['PUT', '/api/state/k', 1],
      ['DELETE', '/api/state/k', 1],
      ['POST', '/api/events/publish', 1],
      ['POST', '/mcp', 1],
    ];
    for (const [method, url, tries] of cases) {
      const front = await startNginx(t, nginxPath, ports.slice(0, 3), ports[3]!);
      const id = `${method} ${url}`;
      const r = await request(`${front.base}${url}`, { method, id, body: method === 'PUT' || method === 'POST' ? '{}' : undefined });
      t.equal(r.status, 502, `${id}: 502 when every node it tried failed`);
      const nodes = hits.filter((h) => h.id === id).map((h) => h.node);
      t.equal(nodes.length, tries, tries === 1 ? `${id} reached one node and was not re-sent` : `${id} was tried on all three nodes (${nodes.join(', ')})`);
    }
  });

  t.test('nodes that refuse the connection: a POST moves on to a live node', async (t) => {
    const ports = await freePorts(4);
    const hits: Hit[] = [];
    // koor-1 and koor-2 listen nowhere (connection refused); koor-3 answers.
    await standIn(t, 'koor-3', ports[2]!, hits, () => 'ok');
    const front = await startNginx(t, nginxPath, ports.slice(0, 3), ports[3]!);
    for (let i = 0; i < 4; i++) {
      const r = await request(`${front.base}/api/events/publish`, { method: 'POST', id: `post-${i}`, body: '{"topic":"a"}' });
      t.equal(r.status, 200, `POST ${i}: answered`);
      t.equal(JSON.parse(r.body).node, 'koor-3', 'by the live node');
    }
    t.equal(hits.filter((h) => h.id.startsWith('post-')).length, 4, 'each POST reached a node exactly once');
  });
});
