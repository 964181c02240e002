import http from 'node:http';
import { createHmac } from 'node:crypto';

export interface Delivery {
  headers: http.IncomingHttpHeaders;
  body: string;
  json: any;
  /** The status this receiver answered. */
  status: number;
}

export type Behaviour = (nth: number, d: Omit<Delivery, 'status'>) => number | 'hold';

/**
 * A webhook receiver on 127.0.0.1: records every POST and answers with what `behave` says (a
 * status, or 'hold' = never answer until released). Closed at teardown.
 */
export async function startReceiver(t: { teardown(fn: () => unknown): void }, behave: Behaviour = () => 200) {
  const got: Delivery[] = [];
  const held: http.ServerResponse[] = [];
  let behaviour = behave;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let parsed: unknown = null;
      try {
        parsed = JSON.parse(body);
      } catch {
        parsed = null;
      }
      const d = { headers: req.headers, body, json: parsed };
      const answer = behaviour(got.length + 1, d);
      if (answer === 'hold') {
        got.push({ ...d, status: 0 });
        held.push(res);
        return;
      }
      got.push({ ...d, status: answer });
      res.writeHead(answer, { 'content-type': 'text/plain' }).end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const close = () =>
    new Promise<void>((r) => {
      for (const res of held) res.destroy();
      server.closeAllConnections();
      server.close(() => r());
    });
  t.teardown(close);
  return {
    url: `http://127.0.0.1:${port}/hook`,
    port,
    got,
    /** Successful deliveries (2xx), in arrival order. */
    ok: () => got.filter((d) => d.status >= 200 && d.status < 300),
    setBehaviour(b: Behaviour) {
      behaviour = b;
    },
    close,
  };
}

export const hmac = (secret: string, body: string) => createHmac('sha256', secret).update(body).digest('hex');
