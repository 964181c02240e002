/**
 * What every real client's driver and every fake model API here shares: the repository's root (the
 * clients are installed under its test-output/), running a command to its end, installing a pinned
 * client from npm, the recording HTTP server the fake APIs are built on (and what it records),
 * and collecting a client's run.
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { execFile, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The repository's root, from this file: bench/clients/ in the source tree or dist/bench/clients/ compiled. */
export const REPO = ((): string => {
  for (let dir = path.dirname(fileURLToPath(import.meta.url)); ; dir = path.dirname(dir)) {
    const pkg = path.join(dir, 'package.json');
    if (fs.existsSync(pkg) && (JSON.parse(fs.readFileSync(pkg, 'utf8')) as { name?: string }).name === 'koor') return dir;
    if (path.dirname(dir) === dir) throw new Error(`no koor package.json above ${fileURLToPath(import.meta.url)}`);
  }
})();

/** A command run to its end within `timeoutMs` (then SIGKILL): whether it exited 0, and its stdout + stderr. */
export function runProcess(cmd: string, args: string[], timeoutMs: number, env: NodeJS.ProcessEnv = process.env): Promise<{ ok: boolean; out: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: Math.max(1, timeoutMs), killSignal: 'SIGKILL', env, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ ok: err === null, out: `${stdout}${stderr}${err && (err as { killed?: boolean }).killed ? '\n(timed out)' : ''}` });
    });
  });
}

/** A pinned client installed from npm into a gitignored cache folder (Claude Code here, Codex in bench/clients/codex.ts). */
export interface NpmClient {
  /** `name@version`. */
  pkg: string;
  /** `npm install --no-save --prefix` lands it here. */
  dir: string;
  /** The installed executable, or null. */
  find: () => string | null;
  /** Null when the executable runs and is this release; else why not. */
  works: (bin: string) => Promise<string | null>;
}

/**
 * Installs a pinned client into its folder with `npm install --no-save --ignore-scripts --prefix`,
 * unless a working copy is there, within `budgetMs`. No install script of the package runs: each
 * client's `find` names the platform package's executable itself. Returns why it could not be
 * had, or null when the client is there. Never throws.
 */
export async function installNpmClient(c: NpmClient, budgetMs: number): Promise<string | null> {
  try {
    const found = c.find();
    if (found !== null && (await c.works(found)) === null) return null;
    // Absent, or a broken copy: a fresh install.
    fs.rmSync(c.dir, { recursive: true, force: true });
    fs.mkdirSync(c.dir, { recursive: true });
    const until = Date.now() + budgetMs;
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
    const r = await runProcess(npm, ['install', '--no-save', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error', '--prefix', c.dir, c.pkg], until - Date.now());
    const bin = c.find();
    if (!r.ok) return `npm install ${c.pkg} failed: ${r.out.trim().slice(-300)}`;
    if (bin === null) return `npm installed ${c.pkg} without an executable for ${process.platform}-${process.arch} (its optional platform package)`;
    return await c.works(bin);
  } catch (e) {
    return `installing ${c.pkg} failed: ${(e as Error).message}`;
  }
}

/** One request a fake model API received. */
export interface ApiRequest {
  /** 0-based, over every request the fake received. */
  n: number;
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  /** The parsed JSON body (null when not JSON). */
  body: any;
  /** True when the request offered tools: a turn of the agent's loop, not a title or a summary. */
  agent: boolean;
  /** When it arrived (Date.now()). */
  at: number;
}

/** A fake model API: where it listens, what it received. */
export interface FakeApi {
  /** http://127.0.0.1:<port>: ANTHROPIC_BASE_URL. */
  url: string;
  /** Every request, in arrival order. */
  requests: ApiRequest[];
  /** The requests that offered tools (the agent's turns), in order. */
  agentRequests(): ApiRequest[];
  close(): Promise<void>;
}

/**
 * An HTTP server on 127.0.0.1 (ephemeral port) that records every request (its JSON body parsed;
 * `agent`: it offered tools) and hands it to `answer`: the plumbing of the fake model APIs (claude-code.ts's
 * Messages API, codex.ts's Responses API, gemini.ts's, fake-chat.ts's Chat Completions).
 */
export async function startRecordingServer(answer: (r: ApiRequest, res: http.ServerResponse) => void): Promise<FakeApi> {
  const requests: ApiRequest[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      let body: any = null;
      try {
        body = JSON.parse(raw);
      } catch {
        body = null;
      }
      const r: ApiRequest = { n: requests.length, method: req.method ?? '', url: req.url ?? '', headers: req.headers, body, agent: Array.isArray(body?.tools) && body.tools.length > 0, at: Date.now() };
      requests.push(r);
      answer(r, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return { url: `http://127.0.0.1:${port}`, requests, agentRequests: () => requests.filter((r) => r.agent), close };
}

/**
 * A client's run to its end (runClaude, and runCodex in bench/clients/codex.ts): stdout and stderr
 * collected, SIGKILL after `timeoutMs`, stdout's JSON lines parsed (other lines skipped).
 */
export async function collectRun(
  child: ChildProcess,
  timeoutMs: number,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; timedOut: boolean; stdout: string; stderr: string; events: any[] }> {
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, timeoutMs);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((r) => child.on('close', (c, s) => r([c, s])));
  clearTimeout(timer);
  const events: any[] = [];
  for (const line of stdout.split('\n')) {
    if (!line.trim()) continue;
    try {
      events.push(JSON.parse(line));
    } catch {
      // not a JSON line
    }
  }
  return { code, signal, timedOut, stdout, stderr, events };
}
