import { BODY_OPTIONS, bodyFrom, call, defineCommand, keyPath } from '../core.js';

/** The content type of a value no one named: JSON is application/json, other UTF-8 text text/plain, the rest bytes. */
function contentTypeOf(body: Buffer): string {
  const text = body.toString('utf8');
  if (!Buffer.from(text, 'utf8').equals(body)) return 'application/octet-stream';
  try {
    JSON.parse(text);
    return 'application/json';
  } catch {
    return 'text/plain; charset=utf-8';
  }
}

export default defineCommand({
  description: 'Write a new version of a state key',
  details:
    'The body is sent as is. Its content type comes from the data unless `--type` names one: JSON is `application/json`, ' +
    'other UTF-8 text `text/plain; charset=utf-8`, anything else `application/octet-stream`.',
  examples: [
    ['Store JSON', `$0 state set api/contract --data '{"v":2}'`],
    ['Store text (text/plain)', `$0 state set notes/status --data 'migration half done'`],
    ['Store a file as Markdown', '$0 state set notes/plan --file plan.md --type text/markdown'],
  ],
  positionals: [{ name: 'key' }],
  options: {
    ...BODY_OPTIONS,
    type: { description: 'Content type stored with the value (default: from the data: application/json, text/plain or application/octet-stream)' },
    'content-type': { description: 'The same as --type' },
  },
  run: ({ pos, opt, ignored, ctx }) => {
    const body = bodyFrom(opt, ignored);
    return call(ctx, 'PUT', `/api/state/${keyPath(pos.key)}`, { body, contentType: opt.type ?? opt['content-type'] ?? contentTypeOf(body) });
  },
});
