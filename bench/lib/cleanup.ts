/**
 * The cleanup registry: every child process and temp dir a suite starts is registered here and
 * removed by `cleanupAll()` (run.ts calls it after each suite, on SIGINT/SIGTERM) or, as a last
 * resort on exit, by `cleanupAllSync()`.
 */
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

interface Tracked {
  child?: ChildProcess;
  dir?: string;
  /** Undoes what is neither a child nor a dir (a network namespace, a server another user runs); synchronous. */
  undo?: () => void;
}
const tracked = new Set<Tracked>();

/** Registers a child (and the dir it owns) for cleanup; the function returned unregisters it (spawnNode's stop()). */
export function register(t: Tracked): () => void {
  tracked.add(t);
  return () => void tracked.delete(t);
}

/** A child this suite started itself (not through spawnNode): killed by cleanupAll() and on exit if still alive. */
export function trackChild(child: ChildProcess): void {
  const t: Tracked = { child };
  tracked.add(t);
  child.once('exit', () => tracked.delete(t));
}

/** Registers `undo` to run at cleanup (after the children are stopped); the function returned unregisters it. */
export function onCleanup(undo: () => void): () => void {
  return register({ undo });
}

/** Kills every tracked child still alive and removes tracked dirs (async, graceful first). */
export async function cleanupAll(): Promise<void> {
  const all = [...tracked];
  await Promise.all(all.map((t) => (t.child ? stopChild(t.child, 5000) : Promise.resolve())));
  for (const t of all) {
    if (t.dir) fs.rmSync(t.dir, { recursive: true, force: true });
    undo(t);
    tracked.delete(t);
  }
}

/** Last resort on process exit: SIGKILL children, remove dirs, synchronously. */
export function cleanupAllSync(): void {
  for (const t of tracked) {
    if (t.child && t.child.exitCode === null && t.child.signalCode === null) t.child.kill('SIGKILL');
    if (t.dir) fs.rmSync(t.dir, { recursive: true, force: true });
    undo(t);
  }
  tracked.clear();
}

/** Temp dir under $KOOR_BENCH_TMP or the OS temp dir, removed by cleanup. */
export function makeTempDir(prefix: string): { dir: string; remove: () => void } {
  const base = process.env.KOOR_BENCH_TMP || os.tmpdir();
  const dir = fs.mkdtempSync(path.join(base, prefix));
  const t: Tracked = { dir };
  tracked.add(t);
  return {
    dir,
    remove: () => {
      fs.rmSync(dir, { recursive: true, force: true });
      tracked.delete(t);
    },
  };
}

function undo(t: Tracked): void {
  try {
    t.undo?.();
  } catch {
    // best effort: the rest is still cleaned up
  }
}

/** SIGTERM, then SIGKILL past `graceMs`; resolves once the child has exited. */
export function stopChild(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

