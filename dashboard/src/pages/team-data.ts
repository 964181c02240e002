/**
 * What the team page reads besides the task list: the team model (../team.ts) fed the event
 * history and then the live stream, and the projects of agents and leases, remembered after they
 * are gone (to place an edit refused in its project).
 */
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { EventReply as KoorEvent } from '../../../schemas/http/events.js';
import { EVENTS_HISTORY_MAX_LAST } from '../../../src/shared/limits.js';
import { projectOf } from '../../../src/shared/workspace.js';
import { query, request } from '../api.js';
import { isTeamEvent, TeamModel } from '../team.js';
import { message, useLive } from '../ui.js';

/** Events of each topic read from the history when the page opens (the default retention keeps 1000 in all). */
const TEAM_HISTORY_EVENTS = 5000;
/** History pages read per topic at most (a rare topic in a long log comes in windows: X-Koor-Next). */
const TEAM_HISTORY_PAGES = 10;
/** Agents and leases whose project the page remembers once gone from the roster or the lease list (to place their marks). */
const TEAM_MAX_REMEMBERED = 10_000;

const TOPICS = [
  { topic: 'task.*', source: 'tasks' },
  { topic: 'lease.denied', source: 'hooks' },
  { topic: 'hook.woken', source: '' },
] as const;

/** One topic's history, newest first, following X-Koor-Next through a long log (bounded). */
async function readHistory(topic: string, source: string): Promise<KoorEvent[]> {
  const out: KoorEvent[] = [];
  let before: string | null = null;
  for (let page = 0; page < TEAM_HISTORY_PAGES && out.length < TEAM_HISTORY_EVENTS; page++) {
    const last = Math.min(TEAM_HISTORY_EVENTS - out.length, EVENTS_HISTORY_MAX_LAST);
    const res = await request('GET', `/api/events/history${query({ topic, source, last, before })}`);
    out.push(...((await res.json()) as KoorEvent[]));
    const next = res.headers.get('X-Koor-Next');
    if (next === null || !next.startsWith('before=')) break;
    before = next.slice('before='.length);
  }
  return out;
}

/**
 * The model, fed the history and then the live stream. Live events that arrive while the history
 * is read are held, then applied with it in id order (each once).
 */
export function useTeamModel(): { model: TeamModel; version: number; loading: boolean; error: string | null } {
  const live = useLive();
  const [model, setModel] = useState(() => new TeamModel());
  const [version, setVersion] = useState(0);
  const [state, setState] = useState<{ loading: boolean; error: string | null }>({ loading: true, error: null });
  useEffect(() => {
    const m = new TeamModel();
    setModel(m);
    let held: KoorEvent[] | null = [];
    let cancelled = false;
    const off = live.subscribe((fresh) => {
      if (held) held.push(...fresh.filter(isTeamEvent));
      else if (m.apply(fresh)) setVersion((v) => v + 1);
    });
    const goLive = (history: KoorEvent[], error: string | null) => {
      if (cancelled) return;
      const byId = new Map<number, KoorEvent>();
      for (const e of [...history, ...(held ?? [])]) byId.set(e.id, e);
      held = null;
      m.apply([...byId.values()].sort((a, b) => a.id - b.id));
      setVersion((v) => v + 1);
      setState({ loading: false, error });
    };
    Promise.all(TOPICS.map((t) => readHistory(t.topic, t.source))).then(
      (lists) => goLive(lists.flat(), null),
      (e: unknown) => goLive([], `The history could not be read (live events still show): ${message(e)}`),
    );
    return () => {
      cancelled = true;
      off();
    };
  }, [live]);
  return { model, version, ...state };
}

/** Sets `key` to `value` (a non-empty one), the newest last, the oldest going past `max`. */
function remember(map: Map<string, string>, key: string, value: string, max: number): void {
  if (value === '' || map.get(key) === value) return;
  map.delete(key);
  map.set(key, value);
  if (map.size > max) map.delete(map.keys().next().value!);
}

/**
 * The projects of agents (their workspace's) and of leases, as the roster and the lease list said,
 * kept after they leave them: an edit refused names neither its project nor keeps its lease, and
 * its agent may have ended its session since.
 */
export function useWhereabouts(agents: ReadonlyArray<{ id: string; workspace: string }> | null, leases: ReadonlyArray<{ id: string; project: string }> | null) {
  const maps = useRef({ agents: new Map<string, string>(), leases: new Map<string, string>() }).current;
  useMemo(() => {
    for (const a of agents ?? []) remember(maps.agents, a.id, projectOf(a.workspace), TEAM_MAX_REMEMBERED);
  }, [agents]);
  useMemo(() => {
    for (const l of leases ?? []) remember(maps.leases, l.id, l.project, TEAM_MAX_REMEMBERED);
  }, [leases]);
  return { agent: (id: string) => maps.agents.get(id) ?? '', lease: (id: string) => maps.leases.get(id) ?? '' };
}
