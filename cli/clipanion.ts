import { Builtins, Cli, Command, Option, type CommandClass } from 'clipanion';
import { COMMANDS, loadDef } from './registry.js';
import { CliError, packageVersion, UsageError, type AnyCommandDef, type RunContext } from './core.js';

/**
 * The clipanion side of the one command definition: builds a Command class from each CommandDef
 * and runs help, usage errors and any command line the fast parser refused. Loaded only then.
 * Help and errors go to stderr; command output still goes to stdout.
 */

const BIN = 'koor-cli';

interface Candidate {
  usage: string;
  reason: string | null;
}

/** clipanion shows a string option as `--limit #0`; say `--limit <limit>` instead. */
function readableUsage(text: string): string {
  return text.replace(/<--([\w-]+) #0>/g, '--$1 <$1>').replace(/--([\w-]+) #0/g, '--$1 <$1>');
}

class KoorCli extends Cli {
  override usage(command?: CommandClass | Command | null, opts?: { colored?: boolean; detailed?: boolean; prefix?: string }): string {
    const text = readableUsage(super.usage(command, opts));
    // The overview says "usage:" like every other usage text, not clipanion's "$".
    return command ? text : text.replace(/^ *\$ koor-cli <command>$/m, `usage: ${BIN} <command> [options]  (${BIN} <command> --help for one command)`);
  }

  override error(error: unknown, opts: { colored?: boolean; command?: Command | null } = {}): string {
    const e = error instanceof Error ? error : new Error(String(error));
    const lines: string[] = [];
    const usageOf = (command: Command | null | undefined) =>
      command ? this.usage(command, { prefix: 'usage: ' }).trimEnd() : '';
    if (e.name === 'UnknownSyntaxError' || e.name === 'AmbiguousSyntaxError') {
      const candidates = ((e as unknown as { candidates?: Candidate[] }).candidates ?? []).filter((c) => c.usage);
      const usages = (e as unknown as { usages?: string[] }).usages ?? candidates.map((c) => c.usage);
      const reason = candidates.length > 0 && candidates.every((c) => c.reason !== null && c.reason === candidates[0]!.reason) ? candidates[0]!.reason! : 'command not found';
      lines.push(`error: ${lowerFirst(reason.replace(/\.$/, ''))}`);
      for (const u of usages) lines.push(`usage: ${readableUsage(u)}`);
    } else if (e instanceof CliError && !(e instanceof UsageError)) {
      lines.push(`error: ${e.message}`);
    } else {
      lines.push(`error: ${lowerFirst(e.message)}`);
      const u = usageOf(opts.command);
      if (u) lines.push(u);
    }
    return lines.join('\n') + '\n';
  }
}

function lowerFirst(s: string): string {
  return s.length > 1 && /^[A-Z][a-z]/.test(s) ? s[0]!.toLowerCase() + s.slice(1) : s;
}

/** A clipanion Command class for one definition; its `execute` runs the same `run`. */
const CATEGORIES: Record<string, string> = {
  init: 'Setup',
  config: 'Setup',
  status: 'Setup',
  state: 'State store',
  specs: 'Specs',
  events: 'Events',
  register: 'Instances',
  activate: 'Instances',
  instances: 'Instances',
  lease: 'Leases and tasks',
  task: 'Leases and tasks',
  send: 'Inbox',
  inbox: 'Inbox',
  ack: 'Inbox',
  thread: 'Inbox',
  wait: 'Inbox',
};

function toCommandClass(path: string[], def: AnyCommandDef, ctx: () => RunContext): CommandClass {
  class Defined extends Command {
    static override paths = [path];
    static override usage = Command.Usage({
      category: CATEGORIES[path[0]!] ?? 'Other',
      description: def.description,
      ...(def.details ? { details: def.details } : {}),
      ...(def.examples ? { examples: def.examples.map(([a, b]) => [a, b] as [string, string]) } : {}),
    });

    constructor() {
      super();
      const self = this as unknown as Record<string, unknown>;
      for (const p of def.positionals) self[`p_${p.name}`] = Option.String({ name: p.name, required: !p.optional });
      for (const [name, o] of Object.entries(def.options)) {
        self[`o_${name}`] = o.boolean
          ? Option.Boolean(`--${name}`, false, { description: o.description })
          : Option.String(`--${name}`, { description: o.description, required: o.required === true });
      }
    }

    override async execute(): Promise<number> {
      const self = this as unknown as Record<string, unknown>;
      const pos: Record<string, string | undefined> = {};
      const opt: Record<string, string | boolean | undefined> = {};
      for (const p of def.positionals) pos[p.name] = self[`p_${p.name}`] as string | undefined;
      for (const name of Object.keys(def.options)) opt[name] = self[`o_${name}`] as string | boolean | undefined;
      return def.run({ pos, opt, ignored: [], ctx: ctx() });
    }
  }
  return Defined as unknown as CommandClass;
}

export interface Clipanion {
  cli: Cli;
  classes: Map<string, CommandClass>;
}

/**
 * The CLI with every command, or only those `keep` accepts: one command's help or usage needs only
 * its own definition, and loading the other ~80 modules and building clipanion's parser for them
 * was most of a `--help`'s time (~0.27 s against ~0.15 s for a command's run).
 */
async function buildCli(ctx: () => RunContext, keep: (name: string) => boolean = () => true): Promise<Clipanion> {
  const cli = new KoorCli({ binaryName: BIN, binaryLabel: 'Koor CLI', binaryVersion: packageVersion(), enableColors: false });
  cli.register(Builtins.HelpCommand);
  cli.register(Builtins.VersionCommand);
  const classes = new Map<string, CommandClass>();
  const names = Object.keys(COMMANDS).filter(keep);
  const defs = await Promise.all(names.map((n) => loadDef(COMMANDS[n]!)));
  names.forEach((name, i) => {
    const cls = toCommandClass(name.split(' '), defs[i]!, ctx);
    classes.set(name, cls);
    cli.register(cls);
  });
  return { cli, classes };
}

const CONTEXT = { stdout: process.stderr, stderr: process.stderr, colorDepth: 1 };


/**
 * Help goes to stderr; commands write to stdout themselves. `only`: the one command `argv` names
 * (its help), so only it is loaded.
 */
export async function runWithClipanion(argv: string[], ctx: () => RunContext, only?: string): Promise<number> {
  const { cli } = await buildCli(ctx, only === undefined ? undefined : (name) => name === only);
  return cli.run(argv, CONTEXT);
}

/**
 * A command line the fast parser refused (`problem` says why). If clipanion accepts it (say
 * `--limit=5` style it handles differently) it runs; otherwise the fast parser's precise message is
 * shown with the command's usage line.
 */
export async function runRefused(argv: string[], name: string, problem: string, ctx: () => RunContext): Promise<number> {
  const { cli, classes } = await buildCli(ctx);
  let command: Command;
  try {
    command = cli.process(argv, CONTEXT);
  } catch {
    const cls = classes.get(name);
    process.stderr.write(`error: ${problem}\n` + (cls ? cli.usage(cls, { prefix: 'usage: ' }).trimEnd() + '\n' : ''));
    return 1;
  }
  return cli.run(command, CONTEXT);
}

/** `usage: koor-cli …` lines for the whole CLI, or for the commands of one group. */
export async function usageLines(ctx: () => RunContext, group?: string): Promise<string> {
  const { cli, classes } = await buildCli(ctx, group === undefined ? undefined : (name) => name.split(' ')[0] === group);
  const lines: string[] = [];
  for (const cls of classes.values()) lines.push(cli.usage(cls, { prefix: 'usage: ' }).trimEnd());
  return lines.join('\n') + '\n';
}

/** `error: <message>` then the command's usage line (a UsageError thrown by `run`). */
export async function usageErrorText(name: string, message: string, ctx: () => RunContext): Promise<string> {
  const { cli, classes } = await buildCli(ctx, (n) => n === name);
  const cls = classes.get(name);
  return `error: ${message}\n` + (cls ? cli.usage(cls, { prefix: 'usage: ' }).trimEnd() + '\n' : '');
}
