/**
 * HTTP/1.1 for a load generator that must not be the limit: kept-alive sockets per server, a
 * request written in one write, a response framed by its Content-Length (or chunks) and nothing
 * else parsed. Node's http client cost the scale suite's generator ~150 µs of its one core a
 * request at 1,000 agents (a profile: request objects, header handling, writev, the garbage of
 * it), which made its own event-loop delay the tail it measured.
 */
import net from 'node:net';

export interface LeanReply {
  status: number;
  text: string;
}

const CRLF2 = Buffer.from('\r\n\r\n');

class Conn {
  readonly sock: net.Socket;
  private buf: Buffer = Buffer.alloc(0);
  private waiting: { resolve: (r: LeanReply) => void; reject: (e: Error) => void; got: boolean } | null = null;
  closed = false;

  constructor(host: string, port: number, onClose: (c: Conn) => void) {
    this.sock = net.connect({ host, port, noDelay: true });
    this.sock.on('data', (d: Buffer) => {
      this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
      if (this.waiting) this.waiting.got = true;
      this.parse();
    });
    const end = (err?: Error) => {
      if (this.closed) return;
      this.closed = true;
      onClose(this);
      const w = this.waiting;
      this.waiting = null;
      if (w) w.reject(Object.assign(err ?? new Error('socket closed'), { answered: w.got }));
    };
    this.sock.on('error', end);
    this.sock.on('close', () => end());
  }

  send(head: string, body: string | undefined): Promise<LeanReply> {
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject, got: false };
      this.sock.write(body === undefined ? head : head + body);
    });
  }

  /** A whole response in the buffer: its status and body (Content-Length or chunked), handed to the request waiting. */
  private parse(): void {
    const w = this.waiting;
    if (!w) return;
    const at = this.buf.indexOf(CRLF2);
    if (at < 0) return;
    const head = this.buf.toString('latin1', 0, at);
    const status = Number(head.slice(9, 12));
    const length = /\r\ncontent-length: *(\d+)/i.exec(head);
    let body: Buffer;
    let used: number;
    if (length) {
      used = at + 4 + Number(length[1]);
      if (this.buf.length < used) return;
      body = this.buf.subarray(at + 4, used);
    } else if (/\r\ntransfer-encoding: *chunked/i.test(head)) {
      const parts: Buffer[] = [];
      let p = at + 4;
      for (;;) {
        const eol = this.buf.indexOf('\r\n', p);
        if (eol < 0) return;
        const size = parseInt(this.buf.toString('latin1', p, eol), 16);
        if (this.buf.length < eol + 2 + size + 2) return;
        if (size === 0) {
          used = eol + 4;
          break;
        }
        parts.push(this.buf.subarray(eol + 2, eol + 2 + size));
        p = eol + 2 + size + 2;
      }
      body = Buffer.concat(parts);
    } else {
      body = Buffer.alloc(0);
      used = at + 4;
    }
    const text = body.toString('utf8');
    this.buf = this.buf.subarray(used);
    this.waiting = null;
    if (/\r\nconnection: *close/i.test(head)) this.sock.end();
    w.resolve({ status, text });
  }
}

/** Kept-alive connections per server (`base`: http://host:port), as many as there are requests at once. */
export class LeanHttp {
  private readonly idle = new Map<string, Conn[]>();

  request(base: string, method: string, path: string, body?: string, headers: Record<string, string> = {}, timeoutMs = 30_000): Promise<LeanReply> {
    const url = new URL(base);
    let head = `${method} ${path} HTTP/1.1\r\nhost: ${url.host}\r\n`;
    for (const k in headers) head += `${k}: ${headers[k]}\r\n`;
    head += body === undefined ? '\r\n' : `content-length: ${Buffer.byteLength(body)}\r\n\r\n`;
    const attempt = (fresh: boolean): Promise<LeanReply> => {
      const free = this.idle.get(base);
      let c = fresh ? undefined : free?.pop();
      c ??= new Conn(url.hostname, Number(url.port), (gone) => {
        const list = this.idle.get(base);
        const i = list?.indexOf(gone) ?? -1;
        if (i >= 0) list!.splice(i, 1);
      });
      const conn = c;
      const reused = !fresh && conn.sock.bytesWritten > 0;
      let timer: NodeJS.Timeout;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          conn.sock.destroy();
          reject(new Error(`${method} ${path}: timed out after ${timeoutMs} ms`));
        }, timeoutMs);
      });
      return Promise.race([conn.send(head, body), timeout]).then(
        (r) => {
          clearTimeout(timer);
          if (!conn.closed) {
            let list = this.idle.get(base);
            if (!list) this.idle.set(base, (list = []));
            list.push(conn);
          }
          return r;
        },
        (err: Error & { answered?: boolean }) => {
          clearTimeout(timer);
          // A kept-alive socket the server had closed while idle: sent again once, on a fresh one.
          if (reused && err.answered === false && !/timed out/.test(err.message)) return attempt(true);
          throw err;
        },
      );
    };
    return attempt(false);
  }
}
