/** Arguments: the fast-path parser. */
import type { AnyCommandDef } from './command.js';

/** The fast parser refused the command line; main.ts hands it to clipanion to explain. */
export class ParseError extends Error {
  override readonly name = 'ParseError';
}

export interface Parsed {
  pos: Record<string, string | undefined>;
  opt: Record<string, string | boolean | undefined>;
  ignored: string[];
}

/**
 * The CLI's argument parsing, for the fast path: positionals in order; `--name value` (also
 * `--name=value`); later repeats win; unknown `--flags` are ignored together with their value (the
 * next token unless it starts with `-`); `--` ends the flags. Anything it cannot accept (a missing positional
 * or required flag, a flag without its value, an extra positional) throws ParseError and the same
 * command line is given to clipanion, which reports it as a usage error.
 */
export function parseArgs(def: AnyCommandDef, tokens: readonly string[]): Parsed {
  const pos: Record<string, string | undefined> = {};
  const opt: Record<string, string | boolean | undefined> = {};
  const ignored: string[] = [];
  const positionals: string[] = [];
  let flagsDone = false;
  for (let i = 0; i < tokens.length; i++) {
    const tok = tokens[i]!;
    if (flagsDone || !tok.startsWith('--') || tok === '--') {
      if (!flagsDone && tok === '--') {
        flagsDone = true;
        continue;
      }
      positionals.push(tok);
      continue;
    }
    const eq = tok.indexOf('=');
    const name = eq === -1 ? tok.slice(2) : tok.slice(2, eq);
    const spec = Object.hasOwn(def.options, name) ? def.options[name] : undefined;
    if (spec === undefined) {
      ignored.push(tok);
      if (eq === -1 && i + 1 < tokens.length && !tokens[i + 1]!.startsWith('-')) ignored.push(tokens[++i]!);
      continue;
    }
    if (spec.boolean) {
      if (eq !== -1) throw new ParseError(`--${name} takes no value`);
      opt[name] = true;
      continue;
    }
    if (eq !== -1) {
      opt[name] = tok.slice(eq + 1);
    } else {
      if (i + 1 >= tokens.length) throw new ParseError(`--${name} needs a value`);
      opt[name] = tokens[++i]!;
    }
  }
  const specs = def.positionals;
  if (positionals.length > specs.length) throw new ParseError(`unexpected argument: ${positionals[specs.length]}`);
  specs.forEach((p, i) => {
    const v = positionals[i];
    if (v === undefined && !p.optional) throw new ParseError(`missing <${p.name}>`);
    pos[p.name] = v;
  });
  for (const [name, spec] of Object.entries(def.options)) {
    if (spec.boolean) opt[name] ??= false;
    else if (spec.required && opt[name] === undefined) throw new ParseError(`missing --${name}`);
  }
  return { pos, opt, ignored };
}
