/**
 * A minimal RESP (Redis) client for bench/peers (loopback only, no npm dependency): one command in
 * flight per call, pushes for SUBSCRIBE. Just enough for the peers scenarios.
 */
import net from 'node:net';

const CRLF = Buffer.from('\r\n');

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
