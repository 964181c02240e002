import { call, defineCommand, readFileArg, UsageError } from '../core.js';

export default defineCommand({
  description: 'Publish an event',
  details: 'The body is `{"topic":<topic>,"data":<your text spliced in as is>}`, so `--data` must be JSON (the server answers 400 otherwise). Without `--data`/`--file` the event carries `null`.',
  examples: [
    ['Announce a change', `$0 events publish api.change --data '{"endpoint":"/users"}'`],
    ['Publish a file', '$0 events publish build.done --file result.json'],
  ],
  positionals: [{ name: 'topic' }],
  options: {
    data: { description: 'Event data as JSON text' },
    file: { description: 'Read the event data (JSON) from this file' },
    source: { description: 'Source name recorded with the event' },
  },
  async run({ pos, opt, ctx }) {
    if (opt.data !== undefined && opt.file !== undefined) throw new UsageError('use either --file or --data, not both');
    const raw = opt.file !== undefined ? readFileArg(opt.file).toString('utf8') : opt.data;
    let body = `{"topic":${JSON.stringify(pos.topic)}`;
    if (raw !== undefined && raw.trim() !== '') body += `,"data":${raw}`;
    if (opt.source !== undefined) body += `,"source":${JSON.stringify(opt.source)}`;
    return call(ctx, 'POST', '/api/events/publish', { retrySafe: true, body: body + '}' });
  },
});
