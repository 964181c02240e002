import type { AnyCommandDef } from './core.js';

/**
 * Every command: its words → its module, loaded only when that command runs (or when clipanion
 * needs them all for help). A new capability is one file in commands/ plus one line here.
 */
type Loader = () => Promise<{ default: unknown }>;

export const COMMANDS: Readonly<Record<string, Loader>> = {
  init: () => import('./commands/init.js'),
  hook: () => import('./commands/hook.js'),
  'hook-helper': () => import('./commands/hook-helper.js'),
  'config set': () => import('./commands/config-set.js'),
  status: () => import('./commands/status.js'),

  'state list': () => import('./commands/state-list.js'),
  'state get': () => import('./commands/state-get.js'),
  'state set': () => import('./commands/state-set.js'),
  'state delete': () => import('./commands/state-delete.js'),
  'state history': () => import('./commands/state-history.js'),
  'state rollback': () => import('./commands/state-rollback.js'),
  'state diff': () => import('./commands/state-diff.js'),
  'state watch': () => import('./commands/state-watch.js'),
  txn: () => import('./commands/txn.js'),

  'specs list': () => import('./commands/specs-list.js'),
  'specs get': () => import('./commands/specs-get.js'),
  'specs set': () => import('./commands/specs-set.js'),
  'specs delete': () => import('./commands/specs-delete.js'),

  'events publish': () => import('./commands/events-publish.js'),
  'events history': () => import('./commands/events-history.js'),
  'events subscribe': () => import('./commands/events-subscribe.js'),

  register: () => import('./commands/register.js'),
  activate: () => import('./commands/activate.js'),
  'instances list': () => import('./commands/instances-list.js'),
  'instances get': () => import('./commands/instances-get.js'),
  'instances stale': () => import('./commands/instances-stale.js'),

  'lease acquire': () => import('./commands/lease-acquire.js'),
  'lease release': () => import('./commands/lease-release.js'),
  'lease renew': () => import('./commands/lease-renew.js'),
  'lease list': () => import('./commands/lease-list.js'),
  'lease check': () => import('./commands/lease-check.js'),
  'lease guard': () => import('./commands/lease-guard.js'),
  'task add': () => import('./commands/task-add.js'),
  'task claim': () => import('./commands/task-claim.js'),
  'task done': () => import('./commands/task-done.js'),
  'task fail': () => import('./commands/task-fail.js'),
  'task release': () => import('./commands/task-release.js'),
  'task list': () => import('./commands/task-list.js'),
  'task get': () => import('./commands/task-get.js'),
  'task checkpoint': () => import('./commands/task-checkpoint.js'),
  'task checkpoints': () => import('./commands/task-checkpoints.js'),

  send: () => import('./commands/send.js'),
  inbox: () => import('./commands/inbox.js'),
  ack: () => import('./commands/ack.js'),
  digest: () => import('./commands/digest.js'),
  thread: () => import('./commands/thread.js'),
  wait: () => import('./commands/wait.js'),

  'rules import': () => import('./commands/rules-import.js'),
  'rules export': () => import('./commands/rules-export.js'),

  backup: () => import('./commands/backup.js'),
  restore: () => import('./commands/restore.js'),

  'templates list': () => import('./commands/templates-list.js'),
  'templates get': () => import('./commands/templates-get.js'),
  'templates delete': () => import('./commands/templates-delete.js'),
  'templates apply': () => import('./commands/templates-apply.js'),
  'templates create': () => import('./commands/templates-create.js'),

  'contract set': () => import('./commands/contract-set.js'),
  'contract get': () => import('./commands/contract-get.js'),
  'contract validate': () => import('./commands/contract-validate.js'),
  'contract test': () => import('./commands/contract-test.js'),

  'compliance history': () => import('./commands/compliance-history.js'),
  'compliance run': () => import('./commands/compliance-run.js'),

  'webhooks list': () => import('./commands/webhooks-list.js'),
  'webhooks add': () => import('./commands/webhooks-add.js'),
  'webhooks delete': () => import('./commands/webhooks-delete.js'),
  'webhooks test': () => import('./commands/webhooks-test.js'),

  'token create': () => import('./commands/token-create.js'),
  'token list': () => import('./commands/token-list.js'),
  'token revoke': () => import('./commands/token-revoke.js'),

  audit: () => import('./commands/audit.js'),
  'audit summary': () => import('./commands/audit-summary.js'),
  'metrics agents': () => import('./commands/metrics-agents.js'),
  'llm usage': () => import('./commands/llm-usage.js'),
  'llm summary': () => import('./commands/llm-summary.js'),
  'budget set': () => import('./commands/budget-set.js'),
  'budget list': () => import('./commands/budget-list.js'),
  'budget delete': () => import('./commands/budget-delete.js'),
  'otel-headers': () => import('./commands/otel-headers.js'),
  openapi: () => import('./commands/openapi.js'),
};

/** First words that only exist as the start of longer commands (`state`, `specs`, …). */
export const GROUPS: ReadonlySet<string> = new Set(
  Object.keys(COMMANDS)
    .filter((k) => k.includes(' '))
    .map((k) => k.split(' ')[0]!),
);

/** The command a command line starts with (two words before one), or null. */
export function lookup(argv: readonly string[]): { name: string; path: string[]; load: Loader } | null {
  if (argv.length >= 2) {
    const two = `${argv[0]} ${argv[1]}`;
    if (Object.hasOwn(COMMANDS, two)) return { name: two, path: [argv[0]!, argv[1]!], load: COMMANDS[two]! };
  }
  if (argv.length >= 1 && Object.hasOwn(COMMANDS, argv[0]!)) return { name: argv[0]!, path: [argv[0]!], load: COMMANDS[argv[0]!]! };
  return null;
}

export async function loadDef(load: Loader): Promise<AnyCommandDef> {
  return (await load()).default as AnyCommandDef;
}

/** Edits (insert, delete, replace, swap two neighbours) from a to b. */
function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/** Close enough to be the word meant: a few edits for its length, or the start of it. */
function near(typed: string, name: string): number | null {
  const d = distance(typed, name);
  if (typed.length >= 3 && name.startsWith(typed)) return Math.min(d, 1.5);
  return d <= (name.length <= 4 ? 1 : name.length <= 8 ? 2 : 3) ? d : null;
}

/**
 * What a command line naming no command gets: one error line, the nearest command when there is
 * one (did you mean), or the commands of the group it names, and where the full list is. A few
 * lines, never the whole usage.
 */
export function unknownCommand(argv: readonly string[]): string {
  const [first, second] = argv as [string, string | undefined];
  const names = Object.keys(COMMANDS);
  const groupList = (g: string) => `${g} commands: ${names.filter((n) => n.startsWith(`${g} `)).map((n) => n.slice(g.length + 1)).join(', ')}`;
  const more = 'run `koor-cli --help` for every command, `koor-cli <command> --help` for one';
  const shown = second !== undefined && GROUPS.has(first) ? `${first} ${second}` : first;
  let best: { name: string; d: number; words: number } | null = null;
  // The fewest edits; on a tie, the command that accounts for more of the words typed.
  const consider = (name: string, d: number | null) => {
    const words = GROUPS.has(name) ? 1 : name.split(' ').length;
    if (d !== null && (best === null || d < best.d || (d === best.d && words > best.words))) best = { name, d, words };
  };
  if (GROUPS.has(first) && second !== undefined) {
    for (const n of names) if (n.startsWith(`${first} `)) consider(n, near(second, n.slice(first.length + 1)));
  } else {
    for (const n of names) {
      const words = n.split(' ');
      if (argv.length >= words.length) consider(n, near(argv.slice(0, words.length).join(' '), n));
    }
    // A misspelt group alone (`stat`), or with one of its commands (`stat get`: above).
    for (const g of GROUPS) consider(g, near(first, g));
  }
  const hit = best as { name: string; words: number } | null;
  const lines = [`error: unknown command: ${hit !== null && hit.words === 2 && argv.length >= 2 ? `${first} ${second}` : shown}`];
  if (hit !== null) {
    lines.push(GROUPS.has(hit.name) ? `did you mean \`koor-cli ${hit.name}\`? ${groupList(hit.name)}` : `did you mean \`koor-cli ${hit.name}\`?`);
  } else if (GROUPS.has(first)) {
    lines.push(groupList(first));
  }
  lines.push(more);
  return lines.join('\n') + '\n';
}
