/** A small keep-alive HTTP client for set-up, claims and publishes: node:http, lighter than fetch. */
import http from 'node:http';

export interface Reply {
  status: number;
  body: string;
}

export function request(agent: http.Agent, url: string, method: string, body?: string, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, agent, headers: { ...(body !== undefined ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : {}), ...headers }, timeout: 30_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${url}: no reply in 30 s`)));
    req.on('error', reject);
    req.end(body);
  });
}

export async function must(agent: http.Agent, url: string, method: string, body?: string, headers: Record<string, string> = {}): Promise<any> {
  const r = await request(agent, url, method, body, headers);
  if (r.status !== 200) throw new Error(`${method} ${url}: HTTP ${r.status} ${r.body.slice(0, 200)}`);
  return JSON.parse(r.body);
}
