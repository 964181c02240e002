/**
 * A minimal NATS client for bench/peers (loopback only, no npm dependency): the text protocol with
 * headers, request/reply through one inbox subscription. Just enough for the peers scenarios;
 * every wait is bounded by the caller's timeout.
 */
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
        n.subscribe(`${n.inbox}.*`, (m) => {
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
