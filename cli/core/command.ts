/** Commands: the one definition of a command, what it runs with, and the errors it may throw. */

/**
 * The one definition of a command. Each file in cli/commands/ default-exports one of these.
 * Two dispatchers read it: the fast path in main.ts (no clipanion loaded) and clipanion.ts,
 * which turns it into a clipanion Command class for --help, usage errors and anything the fast
 * parser refuses. Neither re-declares a command's options.
 */

export interface PositionalSpec {
  readonly name: string;
  /** Only the last positional may be optional. */
  readonly optional?: boolean;
}

export interface OptionSpec {
  readonly description: string;
  /** A flag without a value (`--all`); otherwise `--name value`. */
  readonly boolean?: boolean;
  /** Missing → usage error. */
  readonly required?: boolean;
}

type PosValues<P extends readonly PositionalSpec[]> = {
  [K in P[number] as K['name']]: K extends { optional: true } ? string | undefined : string;
};
type OptValues<O extends Record<string, OptionSpec>> = {
  [K in keyof O]: O[K] extends { boolean: true } ? boolean : O[K] extends { required: true } ? string : string | undefined;
};

export interface RunContext {
  readonly config: CliConfig;
  /** `--pretty` appeared anywhere on the command line. */
  readonly pretty: boolean;
  readonly cwd: string;
}

export interface RunInput<P extends readonly PositionalSpec[], O extends Record<string, OptionSpec>> {
  readonly pos: PosValues<P>;
  readonly opt: OptValues<O>;
  /** Tokens the parser did not use (unknown flags and their values), for error messages. */
  readonly ignored: readonly string[];
  readonly ctx: RunContext;
}

export interface CommandDef<P extends readonly PositionalSpec[] = readonly PositionalSpec[], O extends Record<string, OptionSpec> = Record<string, OptionSpec>> {
  readonly description: string;
  readonly details?: string;
  readonly examples?: ReadonlyArray<readonly [string, string]>;
  readonly positionals: P;
  readonly options: O;
  /** Resolves to the process exit code. Throws CliError / UsageError for local failures. */
  run(input: RunInput<P, O>): Promise<number>;
}

/** Identity helper that keeps the literal types of positionals and options for `run`. */
export function defineCommand<const P extends readonly PositionalSpec[], const O extends Record<string, OptionSpec>>(def: CommandDef<P, O>): CommandDef<P, O> {
  return def;
}

/** A local failure: printed as one `error: <message>` line on stderr, exit 1. */
export class CliError extends Error {
  override readonly name = 'CliError';
}

/** A command-line mistake found while running: `error: <message>` plus the command's usage line, exit 1. */
export class UsageError extends CliError {}

/** Untyped view used by the dispatchers. */
export interface AnyCommandDef {
  readonly description: string;
  readonly details?: string;
  readonly examples?: ReadonlyArray<readonly [string, string]>;
  readonly positionals: readonly PositionalSpec[];
  readonly options: Record<string, OptionSpec>;
  run(input: {
    pos: Record<string, string | undefined>;
    opt: Record<string, string | boolean | undefined>;
    ignored: readonly string[];
    ctx: RunContext;
  }): Promise<number>;
}

/** What a command runs with: read from the environment, ./settings.json and the user config by loadConfig (config.ts). */
export interface CliConfig {
  /** Base URL without a trailing `/`. */
  readonly server: string;
  /** '' = no Authorization header. */
  readonly token: string;
  /** Whole-reply timeout, ms (KOOR_TIMEOUT in seconds; default 30). */
  readonly timeoutMs: number;
  /**
   * KOOR_CA_FILE / `ca_file`: a PEM file of the CA (or the self-signed certificate) that vouches for
   * an https:// server, trusted instead of Node's public CAs (like curl --cacert); '' = Node's own
   * trust (its public CAs plus NODE_EXTRA_CA_CERTS). An absolute path.
   */
  readonly caFile: string;
  /** The agent this CLI speaks for (KOOR_INSTANCE, or `--instance` where a command has it): sent as X-Koor-Instance; '' = none. */
  readonly instance: string;
  /** Printed once a run (stderr) when a request sends the token: it came from a file of the repository. */
  readonly tokenWarning?: string;
}
