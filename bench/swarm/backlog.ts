/**
 * The swarm bench's backlog: K tasks over one repository, made the same for both arms
 * from a seed. Each task writes its marker line into each of its files: one or two files of its
 * own (new files under src/), and for 20–30 % of tasks one of the few shared files too
 * (`package.json`, `src/index.ts`), where every task's line goes in at the same anchor — so two
 * agents editing one at once collide in git exactly as they would in a real repository. Some
 * tasks depend on an earlier one. Most tasks name the files they will touch (Koor's `paths`);
 * the rest do not (a task filed in a hurry), which is what the hooks' auto-lease is for.
 */

/** The files every task may share; their marker lines all go in at one anchor. */
export const SHARED_FILES = ['package.json', 'src/index.ts'] as const;
export type SharedFile = (typeof SHARED_FILES)[number];

/**
 * The team (tasks.json) of the backlog, and the project of the tasks created later for the idle
 * session. With Koor the backlog's tasks go into the project of the repository they are about —
 * what `koor-cli init` derives from the clone's origin remote, so the hooks' leases, the
 * claims' leases and the tasks agree — and MAIN_PROJECT only labels them here; the idle session
 * says its project (KOOR_PROJECT=ops), as a user may.
 */
export const MAIN_PROJECT = 'shop';
export const LATE_PROJECT = 'ops';

export interface SwarmTask {
  /** `T07`: the task's name in titles, commits and markers. */
  key: string;
  project: string;
  title: string;
  /** Repository-relative files the task writes its marker into: its own, then the shared one if any. */
  files: string[];
  /** The shared file it touches, or null. */
  shared: SharedFile | null;
  /** Keys of the tasks it waits for. */
  deps: string[];
  /** Whether the task names its files (Koor `paths`). */
  declaresPaths: boolean;
}

/** The line a task leaves in each of its files, counted at the end (exactly once per file). */
export const marker = (key: string): string => `swarm:${key}`;

/** mulberry32: a small seeded PRNG, so both arms and every run get the same backlog. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface BacklogShape {
  /** Tasks of the main project (the backlog the sessions drain). */
  main: number;
  /** Tasks created later in LATE_PROJECT, each waking the idle session. */
  late: number;
  /** Share of main tasks touching a shared file (0.2–0.3). */
  sharedShare: number;
  /** Share of main tasks depending on an earlier one. */
  depsShare: number;
  /** Share of tasks naming their files. */
  pathsShare: number;
  seed: number;
  /** The keys' letter (default `T`: T01, T02…); another letter gives another team the same backlog in files of other names (A01 → src/cart/a01.ts). */
  prefix?: string;
}

const pad = (n: number): string => String(n).padStart(2, '0');
const TOPICS = ['cart', 'checkout', 'search', 'users', 'orders', 'billing', 'catalog', 'auth', 'reviews', 'shipping'];

/**
 * The backlog: `main` tasks of MAIN_PROJECT, then `late` of LATE_PROJECT. Exactly
 * round(main × sharedShare) main tasks touch a shared file (alternating between them), spread
 * evenly over the backlog so they come up while the swarm runs; deps point to an earlier task.
 */
export function makeBacklog(s: BacklogShape): SwarmTask[] {
  const rnd = prng(s.seed);
  const out: SwarmTask[] = [];
  const sharedCount = Math.round(s.main * s.sharedShare);
  const sharedAt = new Set<number>();
  for (let j = 0; j < sharedCount; j++) sharedAt.add(Math.floor(((j + 0.5) * s.main) / sharedCount));
  let sharedNext = 0;
  for (let i = 0; i < s.main + s.late; i++) {
    const key = `${s.prefix ?? 'T'}${pad(i + 1)}`;
    const late = i >= s.main;
    const topic = TOPICS[i % TOPICS.length]!;
    const own = [`src/${topic}/${key.toLowerCase()}.ts`];
    if (!late && rnd() < 0.4) own.push(`src/${topic}/${key.toLowerCase()}.test.ts`);
    const shared = !late && sharedAt.has(i) ? SHARED_FILES[sharedNext++ % SHARED_FILES.length]! : null;
    const deps: string[] = [];
    if (!late && i >= 3 && rnd() < s.depsShare) deps.push(`${s.prefix ?? 'T'}${pad(1 + Math.floor(rnd() * i))}`);
    out.push({
      key,
      project: late ? LATE_PROJECT : MAIN_PROJECT,
      title: `${key} ${late ? 'ops: rotate the' : 'add'} ${topic} ${shared ? `(+ ${shared})` : 'module'}`,
      files: shared ? [...own, shared] : own,
      shared,
      deps,
      declaresPaths: rnd() < s.pathsShare,
    });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// File contents: what a task writes, so any agent (the first or one resuming it) writes the same.

/** The content of a task's own (new) file. */
export function ownFileContent(task: SwarmTask, file: string): string {
  const id = file.replace(/^.*\//, '').replace(/\W+/g, '_');
  return `// ${marker(task.key)}\n// ${task.title}\nexport const ${id} = ${JSON.stringify(task.key)};\n`;
}

/** The anchor each task's line goes in after, and the line itself, per shared file. */
export function sharedEdit(file: SharedFile, key: string): { anchor: string; line: string } {
  if (file === 'package.json') return { anchor: '  "swarm": [\n', line: `    "${marker(key)}",\n` };
  return { anchor: '// swarm modules\n', line: `export * from './${key.toLowerCase()}.js'; // ${marker(key)}\n` };
}

/** The repository every clone starts from (besides the baseline's tasks.json). */
export function templateFiles(): Record<string, string> {
  return {
    'package.json': '{\n  "name": "shop",\n  "version": "1.0.0",\n  "private": true,\n  "swarm": [\n    "seed"\n  ]\n}\n',
    'src/index.ts': '// The shop: every module is exported from here.\n// swarm modules\nexport const seed = 1;\n',
    'README.md': '# shop\n\nA repository the swarm bench of Koor works in.\n',
  };
}

// ---------------------------------------------------------------------------------------------
// The baseline's task list: a JSON file in the repository, one task per line, as teams keep one
// without a coordinator. A claim or a completion rewrites the task's own line.

export type FileStatus = 'open' | 'claimed' | 'done';

export interface FileTask {
  key: string;
  team: string;
  title: string;
  files: string[];
  deps: string[];
  status: FileStatus;
  owner: string;
}

/** One task's line in tasks.json (without the separating comma). */
export function taskLine(t: FileTask): string {
  return JSON.stringify({ key: t.key, team: t.team, title: t.title, files: t.files, deps: t.deps, status: t.status, owner: t.owner });
}

export function tasksJson(tasks: readonly FileTask[]): string {
  return `{"tasks": [\n${tasks.map(taskLine).join(',\n')}\n]}\n`;
}

export const toFileTask = (t: SwarmTask): FileTask => ({ key: t.key, team: t.project, title: t.title, files: t.files, deps: t.deps, status: 'open', owner: '' });

/** tasks.json's tasks, or null when it does not parse (a conflict left in it, say). */
export function parseTasksJson(text: string): FileTask[] | null {
  try {
    const v = JSON.parse(text) as { tasks?: FileTask[] };
    return Array.isArray(v.tasks) ? v.tasks : null;
  } catch {
    return null;
  }
}
