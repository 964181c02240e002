/**
 * The koor-cli runtime: everything a command needs on its way to the server and back, written
 * in cli/core/ by concern and loaded as ONE module. That is deliberate: agents run the CLI
 * hundreds of times a session, and every extra module on the start path costs measurable time
 * (module resolution, a file read, a compile; see bench/suites/cli.ts), so `npm run build` bundles this
 * file and everything it re-exports into dist/cli-cjs/core.js (cli/build.mjs). The start path is
 * main.js → core.js + registry.js → one file of commands/. clipanion (help and usage), the
 * WebSocket subscriber and `init` load only when used. Import the runtime from here, never from
 * cli/core/ (that would load a second copy, whose errors fail `instanceof`).
 */
export * from './core/command.js';
export * from './core/config.js';
export * from './core/args.js';
export * from './core/http.js';
export * from './core/output.js';
export * from './core/helpers.js';
export * from './core/inbox.js';
