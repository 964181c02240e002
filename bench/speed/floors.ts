/** The speed suite's floor rounds: koor and the writer-thread floors (bench/baselines/uws.ts) running at once, measured in turn. */
import path from 'node:path';
import { pin, spawnBenchScript, spawnKoor, type ServerProc } from '../lib/processes.js';
import type { Wrk } from '../lib/wrk.js';
import { TOKEN, wrkCpu } from './drive.js';

/** Rounds of the floor goals, each koor and both writer-thread floors once. */
export const FLOOR_ROUNDS = (quick: boolean): number => (quick ? 3 : 5);
export type FloorRound = { koor: Wrk; features: Wrk; plain: Wrk };

/**
 * koor (--sync full), the floor of the rows a PUT keeps and the plain writer-thread floor, all
 * started first and pinned to core 0, then measured one at a time in `rounds` rounds (the same
 * PUTs, 50 connections): each round's ratios are of runs seconds apart.
 */
export async function floorRounds(tmp: string, put: string, durationS: number, rounds: number, procs: ServerProc[]): Promise<FloorRound[]> {
  const started: ServerProc[] = [];
  try {
    const koor = await spawnKoor(['--auth-token', TOKEN, '--sync', 'full']);
    started.push(koor);
    const features = await spawnBenchScript('floor-features', 'baselines/uws.js', ['0', path.join(tmp, 'rounds-features.db'), 'full', 'thread', 'features']);
    started.push(features);
    const plain = await spawnBenchScript('floor-plain', 'baselines/uws.js', ['0', path.join(tmp, 'rounds-plain.db'), 'full', 'thread']);
    started.push(plain);
    procs.push(...started);
    for (const p of started) pin(p.pid, 0);
    const run = (p: ServerProc) => wrkCpu(p.pid, `${p.url}/api/state/bench/put/0`, put, durationS);
    const out: FloorRound[] = [];
    for (let i = 0; i < rounds; i++) out.push({ koor: run(koor), features: run(features), plain: run(plain) });
    return out;
  } finally {
    for (const p of started) {
      await p.stop();
      if (procs.includes(p)) procs.splice(procs.indexOf(p), 1);
    }
  }
}
