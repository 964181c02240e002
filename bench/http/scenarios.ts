/**
 * The http suite's scenarios, as every run of it drives them: GET of the 1 KB document, the same
 * with If-None-Match (304), and PUT of 1 KB over 1000 keys; the servers they are driven against,
 * each checked first (the document stored, GET and 304 answered alike).
 */
import type autocannon from 'autocannon';
import type { ServerProc } from '../lib/processes.js';

/** The drive of every run: connections, pipelining; the document's key and the PUTs' keys. */
export const CONNECTIONS = 50;
export const PIPELINING = 1;
const DOC_KEY = 'bench/doc';
const DOC_PATH = `/api/state/${DOC_KEY}`;
export const PUT_KEYS = 1000;
const PUT_PREFIX = '/api/state/bench/put/';

export interface Target {
  name: 'koor' | 'baseline';
  proc: ServerProc;
  etag: string;
  /** Response header names of a 200 GET (sanity: both servers send the same set). */
  getHeaders: string[];
}

const HEADERS_OF_INTEREST = ['content-type', 'etag', 'x-koor-version'];

/** Stores the doc, then checks GET 200 (body, headers) and GET 304 on one server. */
export async function prepare(name: Target['name'], proc: ServerProc, doc: string): Promise<Target> {
  const url = proc.url + DOC_PATH;
  const put = await fetch(url, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: doc, signal: AbortSignal.timeout(5000) });
  const putBody = await put.text();
  if (put.status !== 200) throw new Error(`${name}: PUT ${DOC_PATH} → ${put.status} ${putBody}`);
  const get = await fetch(url, { signal: AbortSignal.timeout(5000) });
  const body = await get.text();
  const etag = get.headers.get('etag') ?? '';
  if (get.status !== 200 || body !== doc) throw new Error(`${name}: GET ${DOC_PATH} → ${get.status}, body ${body.length} bytes (want the ${doc.length}-byte doc)`);
  if (etag === '' || etag !== put.headers.get('etag')) throw new Error(`${name}: ETag of GET (${etag}) differs from PUT's (${put.headers.get('etag')})`);
  const getHeaders = HEADERS_OF_INTEREST.filter((h) => get.headers.has(h));
  const nm = await fetch(url, { headers: { 'if-none-match': etag }, signal: AbortSignal.timeout(5000) });
  const nmBody = await nm.text();
  if (nm.status !== 304 || nmBody !== '') throw new Error(`${name}: GET with If-None-Match → ${nm.status} (want 304, empty body)`);
  return { name, proc, etag, getHeaders };
}

export interface Scenario {
  id: 'get' | 'get_304' | 'put';
  title: string;
  okStatuses: number[];
  load: (t: Target) => {
    url: string;
    method: 'GET' | 'PUT';
    headers?: Record<string, string>;
    body?: string;
    setupClient?: (c: autocannon.Client) => void;
  };
}

/** Connection i cycles over its own slice of the PUT_KEYS keys (all keys get written). */
function putClients(doc: string): (c: autocannon.Client) => void {
  let next = 0;
  const perConn = Math.ceil(PUT_KEYS / CONNECTIONS);
  return (client) => {
    const first = (next++ % CONNECTIONS) * perConn;
    const reqs: autocannon.Request[] = [];
    for (let k = first; k < Math.min(first + perConn, PUT_KEYS); k++) {
      reqs.push({ method: 'PUT', path: `${PUT_PREFIX}${k}`, headers: { 'content-type': 'application/json' }, body: doc });
    }
    client.setRequests(reqs);
  };
}

export function scenarios(doc: string): Scenario[] {
  return [
    { id: 'get', title: 'GET 1 KB JSON', okStatuses: [200], load: (t) => ({ url: t.proc.url + DOC_PATH, method: 'GET' }) },
    {
      id: 'get_304',
      title: 'GET If-None-Match (304)',
      okStatuses: [304],
      load: (t) => ({ url: t.proc.url + DOC_PATH, method: 'GET', headers: { 'if-none-match': t.etag } }),
    },
    {
      id: 'put',
      title: `PUT 1 KB over ${PUT_KEYS} keys`,
      okStatuses: [200],
      load: (t) => ({
        url: `${t.proc.url}${PUT_PREFIX}0`,
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: doc,
        setupClient: putClients(doc),
      }),
    },
  ];
}
