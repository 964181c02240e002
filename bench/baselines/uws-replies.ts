/**
 * The replies of the bare-uWS floor (uws.ts), written as koor writes its own: the same status
 * lines, header names and content types as bytes from koor's own table (a floor must not pay what
 * koor does not), the same headers, the same error body.
 */
import type uWS from 'uWebSockets.js';
import { wireText as wire } from '../../src/http/reply.js';

/** A stored value, with its headers' text ready. */
export interface Entry {
  value: Buffer;
  version: number;
  versionText: string;
  hash: string;
  etag: string;
  contentType: string;
  /** `rows`: the key's revision, as header text. */
  revisionText?: string;
}

const PREFIX = '/api/state/';
export const JSON_TYPE = 'application/json';

/** The reply to a PUT: 200, its headers as koor sends them, the JSON body. */
export function answerPut(res: uWS.HttpResponse, entry: Entry, body: string): void {
  res.cork(() => {
    res.writeStatus(wire('200 OK'));
    res.writeHeader(wire('Content-Type'), wire(JSON_TYPE));
    res.writeHeader(wire('ETag'), entry.etag);
    res.writeHeader(wire('X-Koor-Version'), entry.versionText);
    res.end(body);
  });
}

/** A JSON reply: the status line, Content-Type, the body. */
export function sendJson(res: uWS.HttpResponse, status: string, body: string): void {
  res.cork(() => {
    res.writeStatus(wire(status));
    res.writeHeader(wire('Content-Type'), wire(JSON_TYPE));
    res.end(body);
  });
}

/** An error reply: `{"error","code"}` as koor words it. */
export function fail(res: uWS.HttpResponse, status: string, message: string, code: number): void {
  sendJson(res, status, `${JSON.stringify({ error: message, code })}\n`);
}

/** The key a state URL names (decoded), or null. */
export function keyOf(url: string): string | null {
  try {
    const key = decodeURIComponent(url.slice(PREFIX.length));
    return key === '' ? null : key;
  } catch {
    return null;
  }
}
