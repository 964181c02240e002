/**
 * The peers suite's duels: the goals a single pass decides by luck on this VM, decided again over
 * rounds in which koor and one peer run at once and are measured in turn.
 */
import type { PeerKind } from './ops.js';
import { casRow, warmCas, warmWrites, writeRow, type Ctx, type Row } from './rows.js';
import { startKoor, type Peer } from './servers.js';

/** A duel's row: writes at one connection or four, or contended CAS. */
export type DuelRow = 'write c1' | 'write c4' | 'cas';

/**
 * The goals a single pass decides by luck on this VM, each against its peer. One agent's write:
 * its p99 is whether a stall of the disk fell into those 5 s (overwriting 12 KB and fdatasync'ing
 * it ~1,500 times a second stalled 6–55 ms two or three times in 8 s; koor's p99 22.6 and 2.74 ms
 * against etcd's 3.72 and 2.54 in one run's passes, 2.1 against 3.0 ms at the median of six rounds
 * the same hour). Writes at 4 connections (1.92× and 2.09× etcd) and contended CAS (0.38× and 0.46×
 * Redis, whose rate moved 2,353–3,322 within minutes) sit as near their bounds.
 */
export const DUELS: ReadonlyArray<{ peer: PeerKind; rows: readonly DuelRow[] }> = [
  { peer: 'etcd', rows: ['write c1', 'write c4'] },
  { peer: 'redis', rows: ['cas'] },
];

/** KOOR_BENCH_PEERS_ROUNDS: the rounds of each duel (default 6, 2 with --quick; 0: no duels). */
export function duelRounds(quick: boolean): number {
  const env = process.env.KOOR_BENCH_PEERS_ROUNDS;
  const n = env === undefined || env === '' ? (quick ? 2 : 6) : Number(env);
  return Number.isInteger(n) && n >= 0 ? n : quick ? 2 : 6;
}

/**
 * A duel: koor and one peer running at once (each pinned to core 0, only one under load at a
 * time), each warmed up once, then `rounds` rounds of `what`, each row of a round measured on
 * both one after the other, koor first in odd rounds and second in even ones. Drift over minutes
 * then hits both alike, and a stall of the VM costs one round, not the goal (bench/suites/speed.ts
 * measures its floors the same way).
 */
export async function duel(ctx: Ctx, rounds: number, startPeer: () => Promise<Peer>, what: readonly DuelRow[]): Promise<Row[]> {
  const out: Row[] = [];
  const koor = await startKoor('koor');
  let peer: Peer;
  try {
    peer = await startPeer();
  } catch (e) {
    await koor.stop();
    throw e;
  }
  try {
    for (const p of [koor, peer]) {
      if (what.some((r) => r !== 'cas')) warmWrites(ctx, p);
      if (what.includes('cas')) warmCas(ctx, p);
    }
    for (let round = 1; round <= rounds; round++) {
      for (const r of what) {
        for (const p of round % 2 === 1 ? [koor, peer] : [peer, koor]) {
          out.push(r === 'cas' ? casRow(ctx, p, round, 'round') : await writeRow(ctx, p, r === 'write c1' ? 1 : 4, round, 'round'));
        }
      }
    }
  } finally {
    await koor.stop();
    await peer.stop();
  }
  return out;
}
