/** How the speed suite drives every server: 50 connections, an auth token, 1000 keys, wrk on core 1. */
import { wrk as wrkN, wrkCpu as wrkCpuN, wrkScript, type Wrk } from '../lib/wrk.js';

/** Connections of every run. */
export const CONNECTIONS = 50;
export const TOKEN = 'bench-token';
export const KEYS = 1000;
/** wrk at CONNECTIONS; with the server's CPU per request (wrkCpu); a script over KEYS keys. */
export const wrk = (url: string, script: string, durationS: number): Wrk => wrkN(url, script, durationS, CONNECTIONS);
export const wrkCpu = (pid: number, url: string, script: string, durationS: number): Wrk => wrkCpuN(pid, url, script, durationS, CONNECTIONS);
export const script = (dir: string, name: string, opts: Parameters<typeof wrkScript>[2]): string => wrkScript(dir, name, { ...opts, keys: KEYS });
