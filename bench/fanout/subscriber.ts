/**
 * A subscriber process of bench/suites/events.ts:  node dist/bench/fanout/subscriber.js
 *
 * Holds WebSocket subscriptions to koor-server or the bare-uWS baseline and counts what they
 * receive; controlled over a loopback HTTP port (protocol in ./protocol.ts). Logs
 * `{"api":"127.0.0.1:<port>"}` on stderr once listening (what bench/lib/processes.ts's spawnNode waits for).
 *
 * The default client is a minimal RFC 6455 reader on net.Socket: it walks frame headers, counts
 * text frames and parses the leading `{"id":N` of each payload, with no per-frame allocation, so
 * that a few of these processes can absorb a million frames per second and the server, not the
 * subscribers, sets the pace. `client: 'ws'` uses the `ws` package instead (cross-check). A
 * stalled subscription pauses its socket right after the upgrade (like `ws.pause()`): it reads
 * nothing more until /resume, so the kernel buffers and then the server's buffer fill up.
 */
import { createHash, randomBytes, type Hash } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import WebSocket from 'ws';
import type { ClientKind, OpenReply, OpenRequest, Snapshot, SubDetail, SubRow, SubState } from './protocol.js';

const ID_PREFIX = Buffer.from('{"id":');

class Sub {
  frames = 0;
  bytes = 0;
  firstId = 0;
  lastId = 0;
  gaps = 0;
  dups = 0;
  badFrames = 0;
  state: SubState = 'open';
  closeCode = 0;
  closeReason = '';
  openedAt = 0;
  closedAt = 0;
  error: string | null = null;
  hash: Hash | null;
  lastFrameAt = 0;
  /** Pause/resume/close hooks of the concrete client. */
  pause: () => void = () => {};
  resume: () => void = () => {};
  close: () => void = () => {};
  destroy: () => void = () => {};

  constructor(
    readonly client: ClientKind,
    readonly stalled: boolean,
    verify: boolean,
  ) {
    this.hash = verify ? createHash('sha256') : null;
  }

  /** One text frame's payload is buf[p, p+len). */
  onText(buf: Buffer, p: number, len: number): void {
    this.frames++;
    this.bytes += len;
    this.lastFrameAt = Date.now();
    if (this.hash) this.hash.update(buf.subarray(p, p + len));
    let id = 0;
    let q = p + ID_PREFIX.length;
    if (len > ID_PREFIX.length && buf[p] === 0x7b && buf[p + 1] === 0x22 && buf[p + 2] === 0x69 && buf[p + 3] === 0x64 && buf[p + 4] === 0x22 && buf[p + 5] === 0x3a) {
      const end = p + len;
      for (; q < end; q++) {
        const c = buf[q]!;
        if (c < 0x30 || c > 0x39) break;
        id = id * 10 + (c - 0x30);
      }
    }
    if (id === 0) {
      this.badFrames++;
      return;
    }
    if (this.firstId === 0) this.firstId = id;
    else if (id !== this.lastId + 1) {
      if (id <= this.lastId) this.dups++;
      else this.gaps++;
    }
    if (id > this.lastId) this.lastId = id;
  }

  onClose(code: number, reason: string): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.closeCode = code;
    this.closeReason = reason;
    this.closedAt = Date.now();
  }

  row(): SubRow {
    return [this.frames, this.bytes, this.firstId, this.lastId, this.gaps, this.dups, this.state, this.closeCode];
  }

  detail(): SubDetail {
    return {
      stalled: this.stalled,
      client: this.client,
      closeReason: this.closeReason,
      closedAfterMs: this.closedAt ? this.closedAt - this.openedAt : null,
      badFrames: this.badFrames,
      hash: this.hash ? this.hash.copy().digest('hex') : null,
      error: this.error,
    };
  }
}

/** Masked client frame (RFC 6455 requires masking; a zero key leaves the payload as is). */
function clientFrame(opcode: number, payload: Buffer): Buffer {
  if (payload.length > 125) payload = payload.subarray(0, 125);
  return Buffer.concat([Buffer.from([0x80 | opcode, 0x80 | payload.length, 0, 0, 0, 0]), payload]);
}

function closePayload(code: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(code);
  return b;
}

/** Opens one raw subscription; resolves once upgraded (101) or rejects. */
function openRaw(url: URL, sub: Sub, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: url.hostname, port: Number(url.port) });
    socket.setNoDelay(true);
    let upgraded = false;
    let head: Buffer | null = Buffer.alloc(0);
    let pend: Buffer | null = null;
    const timer = setTimeout(() => fail(new Error(`upgrade timed out after ${timeoutMs} ms`)), timeoutMs);
    const fail = (err: Error) => {
      clearTimeout(timer);
      if (!upgraded) {
        socket.destroy();
        reject(err);
      } else {
        sub.error ??= err.message;
      }
    };
    sub.pause = () => socket.pause();
    sub.resume = () => socket.resume();
    sub.destroy = () => socket.destroy();
    sub.close = () => {
      if (socket.destroyed) return;
      if (sub.state !== 'closed') socket.write(clientFrame(0x8, closePayload(1000)));
      socket.end();
    };
    socket.on('error', (err) => fail(err));
    socket.on('close', () => {
      clearTimeout(timer);
      sub.onClose(1006, 'socket closed without a close frame');
      if (!upgraded) reject(new Error('socket closed before the upgrade'));
    });
    socket.on('connect', () => {
      socket.write(
        `GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
    });

    const frames = (chunk: Buffer): void => {
      const buf = pend ? Buffer.concat([pend, chunk]) : chunk;
      const n = buf.length;
      let i = 0;
      for (;;) {
        if (n - i < 2) break;
        const b0 = buf[i]!;
        const b1 = buf[i + 1]!;
        let len = b1 & 0x7f;
        let h = 2;
        if (len === 126) {
          if (n - i < 4) break;
          len = buf.readUInt16BE(i + 2);
          h = 4;
        } else if (len === 127) {
          if (n - i < 10) break;
          len = buf.readUInt32BE(i + 2) * 2 ** 32 + buf.readUInt32BE(i + 6);
          h = 10;
        }
        if (b1 & 0x80) {
          fail(new Error('masked frame from the server'));
          socket.destroy();
          return;
        }
        if (n - i < h + len) break;
        const p = i + h;
        const opcode = b0 & 0x0f;
        if (opcode === 0x1 || opcode === 0x2) {
          if (b0 & 0x80) sub.onText(buf, p, len);
          else sub.badFrames++; // fragmented: never sent by either server
        } else if (opcode === 0x0) {
          sub.badFrames++;
        } else if (opcode === 0x8) {
          const code = len >= 2 ? buf.readUInt16BE(p) : 1005;
          sub.onClose(code, buf.toString('utf8', p + 2, p + len));
          if (!socket.destroyed) {
            socket.write(clientFrame(0x8, closePayload(code === 1005 ? 1000 : code < 3000 && code !== 1000 ? 1000 : code)));
            socket.end();
          }
        } else if (opcode === 0x9) {
          if (!socket.destroyed) socket.write(clientFrame(0xa, buf.subarray(p, p + len)));
        }
        i = p + len;
      }
      pend = i < n ? buf.subarray(i) : null;
    };

    socket.on('data', (chunk: Buffer) => {
      if (upgraded) return frames(chunk);
      head = Buffer.concat([head!, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) {
        if (head.length > 16 * 1024) fail(new Error('upgrade response headers too long'));
        return;
      }
      const status = head.toString('latin1', 0, head.indexOf('\r\n'));
      if (!/^HTTP\/1\.1 101 /.test(status)) return fail(new Error(`upgrade refused: ${status}`));
      upgraded = true;
      clearTimeout(timer);
      const rest = head.subarray(end + 4);
      head = null;
      sub.openedAt = Date.now();
      if (rest.length > 0) frames(rest);
      if (sub.stalled) socket.pause();
      resolve();
    });
  });
}

/** Opens one subscription with the `ws` package. */
function openWs(url: URL, sub: Sub, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: timeoutMs });
    let opened = false;
    sub.pause = () => ws.pause();
    sub.resume = () => ws.resume();
    sub.destroy = () => ws.terminate();
    sub.close = () => {
      if (ws.readyState === WebSocket.OPEN) ws.close(1000);
    };
    ws.on('message', (data: Buffer, isBinary) => {
      if (isBinary) sub.badFrames++;
      sub.onText(data, 0, data.length);
    });
    ws.on('close', (code, reason) => sub.onClose(code, reason.toString()));
    ws.on('error', (err) => {
      if (!opened) reject(err);
      else sub.error ??= err.message;
    });
    ws.once('open', () => {
      opened = true;
      sub.openedAt = Date.now();
      if (sub.stalled) ws.pause();
      resolve();
    });
  });
}

let subs: Sub[] = [];

async function open(req: OpenRequest): Promise<OpenReply> {
  const t0 = Date.now();
  const url = new URL(req.url);
  if (url.hostname !== '127.0.0.1' || url.protocol !== 'ws:') throw new Error('loopback ws:// URLs only');
  const count = Math.max(0, Math.min(Math.floor(req.count), 5000));
  const client = req.client ?? 'raw';
  const timeoutMs = req.timeoutMs ?? 15_000;
  const deadline = t0 + timeoutMs;
  const errors: string[] = [];
  let opened = 0;
  let failed = 0;
  let next = 0;
  const worker = async () => {
    while (next < count) {
      next++;
      const sub = new Sub(client, req.stall === true, req.verify === true);
      const left = Math.max(1, deadline - Date.now());
      try {
        await (client === 'ws' ? openWs(url, sub, left) : openRaw(url, sub, left));
        subs.push(sub);
        opened++;
      } catch (e) {
        failed++;
        if (errors.length < 5) errors.push((e as Error).message);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(req.concurrency ?? 50, count)) }, worker));
  return { opened, failed, errors, ms: Date.now() - t0 };
}

function snap(): Snapshot {
  let frames = 0;
  let bytes = 0;
  const rows: SubRow[] = [];
  const details: Record<number, SubDetail> = {};
  subs.forEach((s, i) => {
    frames += s.frames;
    bytes += s.bytes;
    rows.push(s.row());
    if (s.stalled || s.state === 'closed' || s.hash || s.error || s.badFrames > 0) details[i] = s.detail();
  });
  return { at: Date.now(), frames, bytes, rows, details };
}

/** Stalled subscriptions read again; done when each closed or got nothing for quietMs. */
async function resume(quietMs: number, timeoutMs: number): Promise<Snapshot> {
  const stalled = subs.filter((s) => s.stalled);
  const t0 = Date.now();
  for (const s of stalled) {
    s.lastFrameAt = t0;
    s.resume();
  }
  while (Date.now() - t0 < timeoutMs) {
    const now = Date.now();
    if (stalled.every((s) => s.state === 'closed' || now - s.lastFrameAt >= quietMs)) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  return snap();
}

async function closeAll(): Promise<number> {
  const all = subs;
  subs = [];
  for (const s of all) {
    try {
      s.resume();
      s.close();
    } catch {
      /* already gone */
    }
  }
  const t0 = Date.now();
  while (Date.now() - t0 < 2000 && all.some((s) => s.state !== 'closed')) await new Promise((r) => setTimeout(r, 20));
  for (const s of all) s.destroy();
  return all.length;
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let s = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => {
      s += d;
      if (s.length > 1e6) reject(new Error('body too large'));
    });
    req.on('end', () => resolve(s));
    req.on('error', reject);
  });
}

const server = http.createServer((req, res) => {
  const reply = (status: number, v: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(v));
  };
  (async () => {
    const body = await readBody(req);
    const route = `${req.method} ${req.url}`;
    if (route === 'POST /open') return reply(200, await open(JSON.parse(body) as OpenRequest));
    if (route === 'GET /snap') return reply(200, snap());
    if (route === 'POST /resume') {
      const o = (body ? JSON.parse(body) : {}) as { quietMs?: number; timeoutMs?: number };
      return reply(200, await resume(o.quietMs ?? 500, Math.min(o.timeoutMs ?? 10_000, 30_000)));
    }
    if (route === 'POST /close') return reply(200, { closed: await closeAll() });
    reply(404, { error: 'not found' });
  })().catch((e: unknown) => reply(500, { error: (e as Error).message }));
});

server.listen(0, '127.0.0.1', () => {
  const addr = server.address() as net.AddressInfo;
  process.stderr.write(`${JSON.stringify({ msg: 'subscriber ready', api: `127.0.0.1:${addr.port}`, pid: process.pid })}\n`);
});

for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.on(sig, () => {
    for (const s of subs) s.destroy();
    process.exit(0);
  });
}
