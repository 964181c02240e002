import http from 'node:http';
import net from 'node:net';

/**
 * An HTTP-aware round-robin balancer in front of cluster nodes, for the contract suites in cluster
 * mode (`KOOR_TEST_BACKEND=cluster`): each request goes to the next node, whatever connection it
 * came on, so a test's write and its read land on different nodes. An MCP session stays on the
 * node that created it (`Mcp-Session-Id`, as the deploy recipe's nginx does by client address); a
 * WebSocket upgrade goes to the next node and its bytes are relayed untouched. Header names, order
 * and values are passed through as received.
 */
export interface RoundRobin {
  readonly port: number;
  close(): Promise<void>;
}

/** Flat [name, value, …] pairs minus the hop-by-hop ones this hop answers for itself. */
function forwardable(raw: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (name === 'connection' || name === 'keep-alive') continue;
    out.push(raw[i]!, raw[i + 1]!);
  }
  return out;
}

export function roundRobin(ports: number[], listenPort = 0): Promise<RoundRobin> {
  // Kept-alive connections to the nodes are dropped after 4 s idle, before a node's own 10 s idle
  // close could race a reuse (a request sent on a socket the node is closing).
  const agents = ports.map(() => new http.Agent({ keepAlive: true, timeout: 4_000 }));
  const sessions = new Map<string, number>();
  const sockets = new Set<net.Socket>();
  let next = 0;
  const pick = (): number => next++ % ports.length;

  const server = http.createServer({ maxHeaderSize: 1 << 20 }, (req, res) => {
    const sid = req.headers['mcp-session-id'];
    const sticky = typeof sid === 'string' ? sessions.get(sid) : undefined;
    const i = sticky ?? pick();
    const up = http.request(
      {
        host: '127.0.0.1',
        port: ports[i],
        method: req.method,
        path: req.url,
        headers: forwardable(req.rawHeaders),
        setHost: false,
        agent: agents[i],
        maxHeaderSize: 1 << 20,
      },
      (ur) => {
        const created = ur.headers['mcp-session-id'];
        if (typeof created === 'string') sessions.set(created, i);
        res.writeHead(ur.statusCode!, ur.statusMessage, forwardable(ur.rawHeaders));
        res.flushHeaders();
        ur.pipe(res);
        ur.on('error', () => res.destroy());
      },
    );
    up.on('error', (err) => {
      if (res.headersSent) res.destroy();
      else {
        res.writeHead(502, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: `round-robin: node ${i}: ${err.message}`, code: 502 }));
      }
    });
    res.on('close', () => {
      if (!res.writableFinished) up.destroy();
    });
    req.pipe(up);
  });
  // Node's own time limits off: the nodes' limits are the ones under test.
  server.requestTimeout = 0;
  server.headersTimeout = 0;
  server.keepAliveTimeout = 30_000;
  server.on('connection', (s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });

  server.on('upgrade', (req, socket: net.Socket, head: Buffer) => {
    const i = pick();
    const up = net.connect(ports[i]!, '127.0.0.1', () => {
      let lines = `${req.method} ${req.url} HTTP/${req.httpVersion}\r\n`;
      for (let k = 0; k < req.rawHeaders.length; k += 2) lines += `${req.rawHeaders[k]}: ${req.rawHeaders[k + 1]}\r\n`;
      up.write(`${lines}\r\n`);
      if (head.length > 0) up.write(head);
      socket.pipe(up);
      up.pipe(socket);
    });
    up.setNoDelay(true);
    socket.setNoDelay(true);
    sockets.add(up);
    up.once('close', () => {
      sockets.delete(up);
      socket.destroy();
    });
    socket.once('close', () => up.destroy());
    up.on('error', () => socket.destroy());
    socket.on('error', () => up.destroy());
  });

  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(listenPort, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      resolve({
        port,
        close: () =>
          new Promise<void>((done) => {
            for (const s of sockets) s.destroy();
            for (const a of agents) a.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}
