import { defineCommand, writeOut } from '../core.js';

/**
 * Claude Code's `otelHeadersHelper` (`init --claude-code --telemetry` names it): the
 * headers of its OpenTelemetry export, as one JSON object — the bearer token of the CLI config
 * ($KOOR_TOKEN or settings.json), or none. No request is made.
 */
export default defineCommand({
  description: "Print the OpenTelemetry export's headers for Claude Code (its otelHeadersHelper): the Koor token as Authorization",
  positionals: [],
  options: {},
  run: async ({ ctx }) => {
    writeOut(`${JSON.stringify(ctx.config.token === '' ? {} : { Authorization: `Bearer ${ctx.config.token}` })}\n`);
    return 0;
  },
});
