/**
 * The resident hook helper: what makes a command hook cost the agent a few milliseconds rather
 * than a Node start. `koor-hook <client>` (../koor-hook.sh, a bash script that starts no process
 * on its fast path) hands each hook call to this process over a loopback socket; it runs the same
 * bridge as `koor-cli hook` (./bridge.ts) and hands back what the hook prints. When the helper is
 * absent, stale or refuses, the script runs `koor-cli hook <client> --helper <file>`, which
 * answers the call itself and starts a helper for the next one.
 *
 * One helper per user and installed script: `<file>` (the script names it, in $XDG_RUNTIME_DIR or
 * the temp dir, with the uid and the script's path in its name) holds `<port> <key> <proof>
 * <pid>`, mode 0600. The exchange, so that no one else's process gets a hook's environment (its
 * KOOR_TOKEN) or acts through the helper:
 *   script → `KOOR-HOOK 1 <key>\n`           (only the file's owner knows the key)
 *   helper → `<proof>\n`                     (an impostor on a stale port knows no proof: the script stops)
 *   script → `<client>` `␟NAME=value`… `␟␟<hook input>\0`   (␟: 0x1f; no newline: see koor-hook.sh)
 *   helper → `OK\n<stdout>\0<stderr lines>\0`, or `NO <why>\n` (the script falls back to Node)
 * The helper exits after KOOR_HOOK_IDLE_S (default 1800) seconds without a call, when its own
 * code changes on disk (an upgrade: it says NO, and the fallback starts the new code), and when
 * another helper has taken its file over.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { loadConfig } from '../core.js';
import { bridge, BRIDGE_BUDGET_MS } from './bridge.js';
import { adapterOf } from './clients/index.js';

/** The environment the script passes on (what koor-cli's config, the bridge and the adapters read). */
export const HELPER_ENV = [
  'PWD', 'HOME', 'XDG_CONFIG_HOME', 'KOOR_SERVER', 'KOOR_TOKEN', 'KOOR_TIMEOUT', 'KOOR_CA_FILE', 'KOOR_INSTANCE',
  'KOOR_AGENT_NAME', 'KOOR_PROJECT', 'KOOR_REPO_ROOT', 'CLAUDE_PROJECT_DIR', 'COPILOT_CLI',
] as const;

/** A hook input larger than this goes to the Node fallback (a whole file's text in a Write is far smaller). */
const MAX_REQUEST_BYTES = 32 * 1024 * 1024;
/** A connection that has not delivered its request by then is closed. */
const REQUEST_TIMEOUT_MS = 10_000;
/** How often the helper looks whether its file is still its own. */
const CHECK_MS = 30_000;
const DEFAULT_IDLE_S = 1_800;

function idleMs(env: NodeJS.ProcessEnv): number {
  const s = Number(env.KOOR_HOOK_IDLE_S);
  return Number.isFinite(s) && s > 0 ? Math.min(s, 86_400) * 1000 : DEFAULT_IDLE_S * 1000;
}

/** A file the helper may write: absolute, in an existing directory, not someone else's, not a link. */
export function helperFileProblem(file: string): string | null {
  if (!path.isAbsolute(file)) return `${file} is not an absolute path`;
  try {
    const st = fs.lstatSync(file);
    if (st.isSymbolicLink() || !st.isFile()) return `${file} is not a plain file`;
    if (typeof process.getuid === 'function' && st.uid !== process.getuid()) return `${file} belongs to another user`;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') return `${file}: ${(e as Error).message}`;
    if (!fs.existsSync(path.dirname(file))) return `${path.dirname(file)} does not exist`;
  }
  return null;
}

interface Request {
  client: string;
  env: NodeJS.ProcessEnv;
  input: string;
}

/** Splits the request's fields (US, 0x1f: no newline, see koor-hook.sh). */
const US = 0x1f;

/** The request after the key line, once all of it has arrived (null before); throws on a malformed one. */
export function parseRequest(buf: Buffer): Request | null {
  const end = buf.indexOf(0);
  if (end === -1) return null;
  const head = buf.indexOf(Buffer.from([US, US]));
  if (head === -1 || head > end) throw new Error('malformed request');
  const [client = '', ...fields] = buf.subarray(0, head).toString('utf8').split(String.fromCharCode(US));
  const env: NodeJS.ProcessEnv = {};
  const allowed = new Set<string>(HELPER_ENV);
  for (const l of fields) {
    const i = l.indexOf('=');
    if (i <= 0) throw new Error('malformed request');
    const name = l.slice(0, i);
    if (allowed.has(name)) env[name] = l.slice(i + 1);
  }
  return { client, env, input: buf.subarray(head + 2, end).toString('utf8') };
}

/** Serves hook calls until idle; resolves when the helper stops. */
export function serveHelper(file: string, env: NodeJS.ProcessEnv = process.env, codeFile: string = __filename): Promise<void> {
  const problem = helperFileProblem(file);
  if (problem !== null) return Promise.reject(new Error(problem));
  const key = crypto.randomBytes(18).toString('base64url');
  const proof = crypto.randomBytes(18).toString('base64url');
  const keyLine = Buffer.from(`KOOR-HOOK 1 ${key}\n`);
  const codeStamp = () => {
    try {
      return fs.statSync(codeFile).mtimeMs;
    } catch {
      return -1;
    }
  };
  const born = codeStamp();
  const idle = idleMs(env);
  let content = '';
  let server: net.Server;
  let idleTimer: NodeJS.Timeout;
  let checkTimer: NodeJS.Timeout;
  let stopping = false;

  return new Promise((resolve, reject) => {
    const stop = () => {
      if (stopping) return;
      stopping = true;
      clearTimeout(idleTimer);
      clearInterval(checkTimer);
      // The file goes only while it is still this helper's: another may have taken it over.
      try {
        if (fs.readFileSync(file, 'utf8') === content) fs.rmSync(file, { force: true });
      } catch {
        // gone already
      }
      server.close(() => resolve());
    };
    const touch = () => {
      clearTimeout(idleTimer);
      idleTimer = setTimeout(stop, idle);
    };

    const handle = (conn: net.Socket) => {
      touch();
      let buf: Buffer = Buffer.alloc(0);
      let keyed = false;
      let answered = false;
      conn.setTimeout(REQUEST_TIMEOUT_MS, () => conn.destroy());
      conn.on('error', () => conn.destroy());
      const no = (why: string) => {
        answered = true;
        conn.end(`NO ${why}\n`);
      };
      conn.on('data', (chunk: Buffer) => {
        if (answered) return;
        buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
        if (buf.length > MAX_REQUEST_BYTES) return no('too large');
        if (!keyed) {
          const nl = buf.indexOf(10);
          if (nl === -1) {
            if (buf.length > keyLine.length) no('key');
            return;
          }
          const line = buf.subarray(0, nl + 1);
          if (line.length !== keyLine.length || !crypto.timingSafeEqual(line, keyLine)) return no('key');
          keyed = true;
          conn.write(`${proof}\n`);
          buf = buf.subarray(nl + 1);
        }
        let req: Request | null;
        try {
          req = parseRequest(buf);
        } catch (e) {
          return no((e as Error).message);
        }
        if (req === null) return;
        answered = true;
        conn.setTimeout(0);
        // An upgrade replaced the code: the fallback answers and starts the new code.
        if (codeStamp() !== born) {
          conn.end('NO stale\n');
          return stop();
        }
        void answer(req).then(
          (text) => conn.end(text),
          (e: unknown) => conn.end(`NO ${String((e as Error)?.message ?? e).replace(/\n/g, ' ')}\n`),
        );
      });
    };

    const answer = async (req: Request): Promise<string> => {
      const adapter = adapterOf(req.client);
      if (adapter === undefined) return `NO unknown client ${req.client}\n`;
      const cwd = req.env.PWD !== undefined && path.isAbsolute(req.env.PWD) ? req.env.PWD : '/';
      // A bad KOOR_TIMEOUT and the like: the fallback says so the way koor-cli does.
      const config = loadConfig(cwd, req.env);
      const a = await bridge(adapter, req.input, req.env, cwd, config, Date.now() + BRIDGE_BUDGET_MS);
      return `OK\n${a.out}\0${a.notes.join('\n')}\0`;
    };

    server = net.createServer(handle);
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      content = `${port} ${key} ${proof} ${process.pid}\n`;
      const tmp = `${file}.${process.pid}.tmp`;
      try {
        fs.writeFileSync(tmp, content, { mode: 0o600, flag: 'wx' });
        fs.renameSync(tmp, file);
      } catch (e) {
        fs.rmSync(tmp, { force: true });
        server.close();
        return reject(e);
      }
      touch();
      // Another helper wrote the file since (two fallbacks at once): the newer one serves.
      checkTimer = setInterval(() => {
        let now = '';
        try {
          now = fs.readFileSync(file, 'utf8');
        } catch {
          // removed: stop too
        }
        if (now !== content) stop();
      }, CHECK_MS);
      checkTimer.unref();
    });
  });
}
