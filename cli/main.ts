#!/usr/bin/env node
/**
 * koor-cli entry. Start-up is a feature (agents run it hundreds of times a session), so the common
 * case never loads clipanion: find the command in the registry, load only its module, parse with
 * the small parser of cli/core/args.ts, run. Help, usage errors and anything that parser refuses go to
 * clipanion, built from the same command definitions (cli/clipanion.ts).
 */
import { CliError, loadConfig, packageVersion, writeOut, parseArgs, ParseError, sessionAgent, UsageError, writeErr, type CliConfig, type RunContext } from './core.js';
import { GROUPS, loadDef, lookup, unknownCommand } from './registry.js';

async function main(argv: string[]): Promise<number> {
  const pretty = argv.includes('--pretty');
  const args = argv.filter((a) => a !== '--pretty');
  const cwd = process.cwd();
  let config: CliConfig | undefined;
  const ctx = (): RunContext => ({ config: (config ??= loadConfig(cwd, process.env)), pretty, cwd });
  const clip = () => import('./clipanion.js');

  if (args.length === 0) {
    writeErr(await (await clip()).usageLines(ctx));
    return 1;
  }
  // On stdout, so `v=$(koor-cli --version)` holds it.
  if (args[0] === '--version' || args[0] === '-V') {
    writeOut(`${packageVersion()}\n`);
    return 0;
  }
  // `koor-cli help state get`: as `state get --help`, only that command's definition loaded.
  if (args[0] === 'help') return (await clip()).runWithClipanion([...args.slice(1), '--help'], ctx, lookup(args.slice(1))?.name);
  if (args.includes('--help') || args.includes('-h')) {
    // `koor-cli state --help`: the group's commands (clipanion has no group help of its own).
    if (args.length === 2 && GROUPS.has(args[0]!) && lookup(args) === null) {
      writeErr(await (await clip()).usageLines(ctx, args[0]));
      return 0;
    }
    // A command's own help: only its definition is loaded (a partial path lists several: all).
    const named = lookup(args);
    return (await clip()).runWithClipanion(args, ctx, named?.name);
  }

  const hit = lookup(args);
  if (hit === null) {
    const [first, second] = args as [string, string | undefined];
    // A whole group's usage when its command is missing; a typo gets a few lines, not all 85.
    if (GROUPS.has(first) && second === undefined) {
      writeErr(`missing ${first} command\n` + (await (await clip()).usageLines(ctx, first)));
      return 1;
    }
    writeErr(unknownCommand(args));
    return 1;
  }
  // Debug/test hook: KOOR_CLI_PARSER=clipanion runs every command line through clipanion.
  if (process.env.KOOR_CLI_PARSER === 'clipanion') return (await clip()).runWithClipanion(args, ctx);

  const def = await loadDef(hit.load);
  let parsed;
  try {
    parsed = parseArgs(def, args.slice(hit.path.length));
  } catch (e) {
    if (e instanceof ParseError) return (await clip()).runRefused(args, hit.name, e.message, ctx);
    throw e;
  }
  let code: number;
  try {
    const run = ctx();
    code = await def.run({ ...parsed, ctx: hit.name === 'hook' ? run : { ...run, config: await sessionAgent(run.config, process.env) } });
  } catch (e) {
    if (e instanceof UsageError) {
      writeErr(await (await clip()).usageErrorText(hit.name, e.message, ctx));
      return 1;
    }
    throw e;
  }
  // Commands write their output synchronously (writeOut), so nothing is pending: leave now rather
  // than wait for the event loop to wind down closed sockets (a measurable part of a short run).
  process.exit(code);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    writeErr(`error: ${e instanceof CliError ? e.message : e instanceof Error ? e.message : String(e)}`);
    process.exitCode = 1;
  },
);
