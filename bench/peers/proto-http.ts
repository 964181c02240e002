/**
 * Minimal HTTP clients for bench/peers (loopback only): keep-alive HTTP/1.1 over node:http, or
 * read by hand where the generator must be cheap (HttpConn); and base64, which etcd's JSON gateway
 * wants for keys and values.
 */
import http from 'node:http';
import net from 'node:net';

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
