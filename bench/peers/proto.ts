/**
 * Minimal clients for bench/peers (loopback only, no npm dependency): NATS (text protocol with
 * headers, request/reply through one inbox subscription), RESP (Redis, one command in flight
 * per call, pushes for SUBSCRIBE) and keep-alive HTTP/1.1 over node:http, or read by hand where
 * the generator must be cheap (HttpConn). Each is just enough for the peers scenarios; every wait
 * is bounded by the caller's timeout.
 */
import http from 'node:http';
import net from 'node:net';

const CRLF = Buffer.from('\r\n');

/** A reply or a delivered message of NATS: subject, reply subject, headers (lower-cased names), payload. */
export interface NatsMsg {
  subject: string;
  sid: number;
  reply: string;
  headers: Map<string, string>;
  status: string;
  data: Buffer;
}

/** One NATS connection (CONNECT with headers), its subscriptions by sid, and request() through an inbox. */
export class Nats {
  private sock: net.Socket;
  private buf: Buffer = Buffer.alloc(0);
  private subs = new Map<number, (m: NatsMsg) => void>();
  private nextSid = 1;
  private inbox = `_INBOX.${Math.random().toString(36).slice(2)}`;
  private inboxSid = 0;
  private pending = new Map<string, { resolve: (m: NatsMsg) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  private nextReq = 0;
  private pongs: Array<() => void> = [];
  closed = false;

  private constructor(sock: net.Socket) {
    this.sock = sock;
    sock.setNoDelay(true);
    sock.on('data', (d: Buffer) => this.onData(d));
    sock.on('close', () => {
      this.closed = true;
      for (const p of this.pending.values()) p.reject(new Error('nats: connection closed'));
      this.pending.clear();
    });
    sock.on('error', () => {});
  }

  static connect(port: number, timeoutMs = 5000): Promise<Nats> {
    return new Promise((resolve, reject) => {
      const sock = net.connect(port, '127.0.0.1');
      const timer = setTimeout(() => {
        sock.destroy();
        reject(new Error('nats: connect timed out'));
      }, timeoutMs);
      sock.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      sock.once('connect', () => {
        const n = new Nats(sock);
        sock.write('CONNECT {"verbose":false,"pedantic":false,"headers":true,"no_responders":true,"protocol":1,"lang":"bench","version":"0"}\r\n');
        n.inboxSid = n.subscribe(`${n.inbox}.*`, (m) => {
          const p = n.pending.get(m.subject);
          if (!p) return;
          n.pending.delete(m.subject);
          clearTimeout(p.timer);
          p.resolve(m);
        });
        n.ping().then(() => {
          clearTimeout(timer);
          resolve(n);
        }, reject);
      });
    });
  }

  /** Resolves once the server answered a PING (everything sent before it has been processed). */
  ping(): Promise<void> {
    return new Promise((resolve) => {
      this.pongs.push(resolve);
      this.sock.write('PING\r\n');
    });
  }

  subscribe(subject: string, fn: (m: NatsMsg) => void): number {
    const sid = this.nextSid++;
    this.subs.set(sid, fn);
    this.sock.write(`SUB ${subject} ${sid}\r\n`);
    return sid;
  }

  publish(subject: string, data: Buffer | string, reply = '', headers?: Record<string, string>): void {
    const payload = typeof data === 'string' ? Buffer.from(data) : data;
    if (headers) {
      const h = Buffer.from(`NATS/1.0\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`);
      this.sock.write(`HPUB ${subject} ${reply ? `${reply} ` : ''}${h.length} ${h.length + payload.length}\r\n`);
      this.sock.write(Buffer.concat([h, payload, CRLF]));
    } else {
      this.sock.write(`PUB ${subject} ${reply ? `${reply} ` : ''}${payload.length}\r\n`);
      this.sock.write(Buffer.concat([payload, CRLF]));
    }
  }

  request(subject: string, data: Buffer | string, timeoutMs = 10_000, headers?: Record<string, string>): Promise<NatsMsg> {
    const reply = `${this.inbox}.${this.nextReq++}`;
    return new Promise((resolve, reject) => {
      if (this.closed) return reject(new Error('nats: connection closed'));
      const timer = setTimeout(() => {
        this.pending.delete(reply);
        reject(new Error(`nats: request to ${subject} timed out`));
      }, timeoutMs);
      this.pending.set(reply, { resolve, reject, timer });
      this.publish(subject, data, reply, headers);
    });
  }

  /** A JetStream API call: the reply's JSON, an `error` member thrown. */
  async api<T>(subject: string, body: unknown = {}): Promise<T> {
    const m = await this.request(subject, JSON.stringify(body));
    const j = JSON.parse(m.data.toString()) as T & { error?: { description: string } };
    if (j.error) throw new Error(`nats ${subject}: ${j.error.description}`);
    return j;
  }

  close(): void {
    this.closed = true;
    this.sock.destroy();
  }

  private onData(d: Buffer): void {
    this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
    let i = 0;
    const b = this.buf;
    while (i < b.length) {
      const eol = b.indexOf(CRLF, i);
      if (eol < 0) break;
      const line = b.toString('latin1', i, eol);
      if (line.startsWith('MSG ') || line.startsWith('HMSG ')) {
        const p = line.split(' ');
        const hmsg = p[0] === 'HMSG';
        const total = Number(p[p.length - 1]);
        const hlen = hmsg ? Number(p[p.length - 2]) : 0;
        const reply = p.length === (hmsg ? 6 : 5) ? p[3]! : '';
        const end = eol + 2 + total + 2;
        if (end > b.length) break;
        const body = b.subarray(eol + 2, eol + 2 + total);
        const headers = new Map<string, string>();
        let status = '';
        if (hmsg) {
          const lines = body.toString('latin1', 0, hlen).split('\r\n');
          status = lines[0]!.slice(9).trim();
          for (const l of lines.slice(1)) {
            const c = l.indexOf(':');
            if (c > 0) headers.set(l.slice(0, c).trim().toLowerCase(), l.slice(c + 1).trim());
          }
        }
        const sid = Number(p[2]);
        const msg: NatsMsg = { subject: p[1]!, sid, reply, headers, status, data: Buffer.from(body.subarray(hlen)) };
        i = end;
        this.subs.get(sid)?.(msg);
      } else {
        i = eol + 2;
        if (line === 'PING') this.sock.write('PONG\r\n');
        else if (line === 'PONG') this.pongs.shift()?.();
        else if (line.startsWith('-ERR')) process.stderr.write(`nats: ${line}\n`);
      }
    }
    this.buf = i >= b.length ? Buffer.alloc(0) : b.subarray(i);
  }
}

export type Resp = string | number | Buffer | null | Error | Resp[];

/** Parses one RESP value at `i`: [value, next index], or null when incomplete. */
function parseResp(b: Buffer, i: number): [Resp, number] | null {
  const eol = b.indexOf(CRLF, i);
  if (eol < 0) return null;
  const t = b[i];
  const line = b.toString('latin1', i + 1, eol);
  if (t === 0x2b) return [line, eol + 2]; // +
  if (t === 0x2d) return [new Error(line), eol + 2]; // -
  if (t === 0x3a) return [Number(line), eol + 2]; // :
  if (t === 0x24) {
    const len = Number(line);
    if (len < 0) return [null, eol + 2];
    if (eol + 2 + len + 2 > b.length) return null;
    return [Buffer.from(b.subarray(eol + 2, eol + 2 + len)), eol + 2 + len + 2];
  }
  if (t === 0x2a) {
    const n = Number(line);
    const out: Resp[] = [];
    let j = eol + 2;
    for (let k = 0; k < n; k++) {
      const r = parseResp(b, j);
      if (!r) return null;
      out.push(r[0]);
      j = r[1];
    }
    return [out, j];
  }
  throw new Error(`resp: unexpected type ${String.fromCharCode(t ?? 0)}`);
}

/** One Redis connection: command() in order, or push mode after subscribe(). */
export class Redis {
  private buf: Buffer = Buffer.alloc(0);
  private waiting: Array<{ resolve: (v: Resp) => void; reject: (e: Error) => void }> = [];
  onPush: ((v: Resp[]) => void) | null = null;

  private constructor(private sock: net.Socket) {
    sock.setNoDelay(true);
    sock.on('data', (d: Buffer) => {
      this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
      let i = 0;
      for (;;) {
        const r = parseResp(this.buf, i);
        if (!r) break;
        i = r[1];
        if (this.onPush && Array.isArray(r[0])) this.onPush(r[0]);
        else this.waiting.shift()?.resolve(r[0]);
      }
      this.buf = i >= this.buf.length ? Buffer.alloc(0) : this.buf.subarray(i);
    });
    sock.on('close', () => {
      for (const w of this.waiting.splice(0)) w.reject(new Error('redis: connection closed'));
    });
    sock.on('error', () => {});
  }

  static connect(port: number): Promise<Redis> {
    return new Promise((resolve, reject) => {
      const sock = net.connect(port, '127.0.0.1');
      sock.once('error', reject);
      sock.once('connect', () => resolve(new Redis(sock)));
    });
  }

  command(...args: Array<string | Buffer>): Promise<Resp> {
    const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
    for (const a of args) {
      const b = typeof a === 'string' ? Buffer.from(a) : a;
      parts.push(Buffer.from(`$${b.length}\r\n`), b, CRLF);
    }
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.sock.write(Buffer.concat(parts));
    });
  }

  /** SUBSCRIBE; resolves on the confirmation, then every message goes to `fn(payload)`. */
  subscribe(channel: string, fn: (payload: Buffer) => void): Promise<void> {
    return new Promise((resolve) => {
      this.onPush = (v) => {
        if (String(v[0]) === 'subscribe') resolve();
        else if (String(v[0]) === 'message') fn(v[2] as Buffer);
      };
      this.sock.write(`SUBSCRIBE ${channel}\r\n`);
    });
  }

  close(): void {
    this.sock.destroy();
  }
}

/** Keep-alive HTTP requests to one loopback server, at most `sockets` at once. */
export class Http {
  private agent: http.Agent;
  constructor(
    private port: number,
    sockets: number,
  ) {
    this.agent = new http.Agent({ keepAlive: true, maxSockets: sockets });
  }

  request(method: string, path: string, body?: string | Buffer, headers: Record<string, string> = {}, timeoutMs = 30_000): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
    return new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: this.port, method, path, agent: this.agent, headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers }, timeout: timeoutMs }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timed out`)));
      req.on('error', reject);
      req.end(body);
    });
  }

  async json<T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; json: T }> {
    const r = await this.request(method, path, body === undefined ? undefined : JSON.stringify(body), headers);
    let json: T;
    try {
      json = JSON.parse(r.body.toString()) as T;
    } catch {
      throw new Error(`${method} ${path}: HTTP ${r.status}, not JSON: ${r.body.toString().slice(0, 200)}`);
    }
    return { status: r.status, headers: r.headers, json };
  }

  close(): void {
    this.agent.destroy();
  }
}

/**
 * One keep-alive HTTP/1.1 connection, one request at a time, read by hand (Content-Length or
 * chunked bodies): what a C generator costs, near enough, where a scenario needs each reply to
 * build the next request (compare-and-set). node:http spent a whole core of the generator at
 * ~15,000 requests/s, which made the CAS row the generator's rate, not the server's.
 */
export class HttpConn {
  private buf: Buffer = Buffer.alloc(0);
  private waiting: { resolve: (r: { status: number; headers: Record<string, string>; body: Buffer }) => void; reject: (e: Error) => void } | null = null;
  /** Settles when the request in flight has its reply (or failed): the next one is sent then. */
  private turn: Promise<void> = Promise.resolve();

  private constructor(
    private readonly sock: net.Socket,
    private readonly host: string,
  ) {
    sock.setNoDelay(true);
    sock.on('data', (d: Buffer) => {
      this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
      this.parse();
    });
    sock.on('close', () => this.fail(new Error('http: connection closed')));
    sock.on('error', (e) => this.fail(e));
  }

  static connect(port: number): Promise<HttpConn> {
    return new Promise((resolve, reject) => {
      const sock = net.connect(port, '127.0.0.1');
      sock.once('error', reject);
      sock.once('connect', () => resolve(new HttpConn(sock, `127.0.0.1:${port}`)));
    });
  }

  private fail(e: Error): void {
    const w = this.waiting;
    this.waiting = null;
    w?.reject(e);
  }

  /** A whole reply at the front of the buffer: settles the request waiting for it. */
  private parse(): void {
    const w = this.waiting;
    if (!w) return;
    const end = this.buf.indexOf('\r\n\r\n');
    if (end < 0) return;
    const lines = this.buf.toString('latin1', 0, end).split('\r\n');
    const status = Number(lines[0]!.split(' ')[1]);
    const headers: Record<string, string> = {};
    for (let i = 1; i < lines.length; i++) {
      const c = lines[i]!.indexOf(':');
      if (c > 0) headers[lines[i]!.slice(0, c).toLowerCase()] = lines[i]!.slice(c + 1).trim();
    }
    let at = end + 4;
    let body: Buffer;
    if (headers['transfer-encoding']?.includes('chunked')) {
      const parts: Buffer[] = [];
      for (;;) {
        const eol = this.buf.indexOf('\r\n', at);
        if (eol < 0) return;
        const size = parseInt(this.buf.toString('latin1', at, eol), 16);
        if (this.buf.length < eol + 2 + size + 2) return;
        parts.push(this.buf.subarray(eol + 2, eol + 2 + size));
        at = eol + 2 + size + 2;
        if (size === 0) break;
      }
      body = Buffer.concat(parts);
    } else {
      const len = Number(headers['content-length'] ?? 0);
      if (this.buf.length < at + len) return;
      body = this.buf.subarray(at, at + len);
      at += len;
    }
    this.buf = at >= this.buf.length ? Buffer.alloc(0) : this.buf.subarray(at);
    this.waiting = null;
    w.resolve({ status, headers, body });
  }

  /** Sent once the reply before it is read (no pipelining). */
  async request(method: string, path: string, body?: string | Buffer, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string>; body: Buffer }> {
    while (this.waiting) await this.turn;
    const b = body === undefined ? null : typeof body === 'string' ? Buffer.from(body) : body;
    let head = `${method} ${path} HTTP/1.1\r\nHost: ${this.host}\r\n`;
    if (b) head += `Content-Type: application/json\r\nContent-Length: ${b.length}\r\n`;
    for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`;
    const reply = new Promise<{ status: number; headers: Record<string, string>; body: Buffer }>((resolve, reject) => {
      this.waiting = { resolve, reject };
      this.sock.write(b ? Buffer.concat([Buffer.from(`${head}\r\n`), b]) : `${head}\r\n`);
    });
    this.turn = reply.then(
      () => {},
      () => {},
    );
    return reply;
  }

  async json<T>(method: string, path: string, body?: unknown): Promise<{ status: number; json: T }> {
    const r = await this.request(method, path, body === undefined ? undefined : JSON.stringify(body));
    try {
      return { status: r.status, json: JSON.parse(r.body.toString()) as T };
    } catch {
      throw new Error(`${method} ${path}: HTTP ${r.status}, not JSON: ${r.body.toString().slice(0, 200)}`);
    }
  }

  close(): void {
    this.sock.destroy();
  }
}

export const b64 = (s: string | Buffer): string => (typeof s === 'string' ? Buffer.from(s) : s).toString('base64');
