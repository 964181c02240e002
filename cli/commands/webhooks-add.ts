import { call, defineCommand } from '../core.js';

export default defineCommand({
  description: 'Register a webhook: matching events are POSTed to its URL',
  details: 'Patterns are topic globs separated by commas (default "*": every event). With a secret, each delivery carries X-Koor-Signature: the hex HMAC-SHA256 of the body.',
  examples: [['API changes to a CI hook, signed', '$0 webhooks add --id ci --url http://ci.local/hook --patterns "api.*,contract.*" --secret s3cret']],
  positionals: [],
  options: {
    id: { description: 'Webhook id (unique)', required: true },
    url: { description: 'Where deliveries are POSTed', required: true },
    patterns: { description: 'Comma-separated topic globs (default "*")' },
    secret: { description: 'HMAC secret for X-Koor-Signature (never shown again)' },
  },
  run: ({ opt, ctx }) => {
    // Split on ',' untrimmed; absent → the server's default ["*"].
    const body: Record<string, unknown> = { id: opt.id, url: opt.url };
    if (opt.patterns !== undefined) body.patterns = opt.patterns.split(',');
    if (opt.secret !== undefined) body.secret = opt.secret;
    return call(ctx, 'POST', '/api/webhooks', { retrySafe: true, body: JSON.stringify(body) });
  },
});
