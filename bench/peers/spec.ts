import type { PeerKind } from './ops.js';

/** What the peers client is asked to run (its one argument, as JSON): a scenario against one peer. */
export interface Spec {
  peer: PeerKind;
  port: number;
  /** Server pid: its CPU (all threads, user+sys) is read around the measured window. */
  pid?: number;
  scenario: 'write' | 'read' | 'cas' | 'watch' | 'pubsub' | 'revision' | 'setup';
  connections?: number;
  durationS?: number;
  writes?: number;
  messages?: number;
  watchers?: number;
  subscribers?: number;
  /** The cas row's generator in C (bench/peers/cas.c, built by bench/suites/peers.ts). */
  casBin?: string;
}
