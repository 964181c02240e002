/**
 * One coding-agent client's adapter: everything Koor knows about that client, in one file of
 * cli/hooks/clients/. A client speaks its own hook protocol; Koor's endpoint speaks Claude Code's
 * (POST /api/hooks/claude-code). The adapter translates both ways (pure functions, unit-tested on
 * their own) and says which files `koor-cli init --<flag>` writes for it. A new client is one file
 * here plus one line in ./index.ts.
 */

export type Obj = Record<string, unknown>;

/** What to send Koor for one client hook call. */
export interface Plan {
  /** Claude-Code-shaped hook inputs, in order; empty: nothing to ask (the reply is `failOpen`'s). */
  inputs: Obj[];
  /** The client's event, for the reply. */
  event: string;
  /** The directory the session works in (for the repository root). */
  cwd: string;
}

/** One file `init` writes (or removes), planned and checked before anything is written. */
export interface FilePlan {
  file: string;
  /** The new text; null: the file is deleted. */
  text: string | null;
  outcome: 'created' | 'updated' | 'unchanged' | 'removed';
  mode: number;
}

export interface ClientPlanOptions {
  server: string;
  /** The repository's project (its origin remote's name, else its folder's). */
  repository?: string;
  /** false: take Koor's entries out. */
  install: boolean;
  /** `init --telemetry`: the client's OpenTelemetry export to Koor too (where it is set in these files). */
  telemetry?: boolean;
  read: (file: string) => string | null;
}

export interface ClientAdapter {
  /** The name `koor-cli hook <name>` and `init --<name>` use: `claude-code`, `codex`, … */
  readonly name: string;
  /** For people: `Claude Code`. */
  readonly title: string;
  /** What `koor-cli init --<name>` installs, for its --help. */
  readonly initHelp: string;
  /** What the user must still do for the client to run what init wrote (a trust step), said after writing it. */
  readonly installNote?: string;
  /** The client's hook input → the Claude-Code-shaped inputs to post. */
  plan(input: Obj, fallbackCwd: string): Plan;
  /** Sent as received rather than re-serialised (Claude Code's own input). */
  readonly passThrough?: boolean;
  /** Koor's Claude-Code-shaped replies → what the client reads on the hook's stdout; null = print nothing. */
  reply(p: Plan, replies: readonly Obj[]): Obj | null;
  /** The output when Koor could not be asked or had nothing to say: the client's "go on". */
  failOpen(p: Plan): Obj | null;
  /**
   * `init --<name> --telemetry`: what the user must still do for the client's OpenTelemetry export
   * to reach Koor's `server` (what `files` cannot write: a variable of the environment), or null.
   * Absent: the adapter has no telemetry (Claude Code's and Codex's live in user files init.ts writes).
   */
  telemetryNote?(server: string, token: boolean): string | null;
  /** The files `init` writes into the repository `root` (install) or takes Koor's entries out of (remove). */
  files(root: string, cwd: string, o: ClientPlanOptions): FilePlan[];
}
