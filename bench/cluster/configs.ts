/** What the cluster suite compares: its three configurations, and the load, rates and cores every one of them gets. */

/** Connections in all (split evenly over the nodes), and claimers. */
export const CONNECTIONS = 48;
export const CLAIMERS = 48;
export const GET_KEYS = 300;
export const PUT_KEYS = 1000;
/**
 * Fixed publish rates of the delivery-latency runs, events/s: a light one, and one at which a
 * PostgreSQL node and PostgreSQL already keep one core nearly busy here (a commit per publish).
 */
export const DELIVERY_RATES = [100, 500];
/** Publishes in flight at most during the delivery run (beyond: counted as late, not sent). */
export const DELIVERY_MAX_IN_FLIGHT = 256;
/** The core of every koor node and PostgreSQL, and the core of the generators (wrk, this process). */
export const SERVER_CORE = 0;
export const GEN_CORE = 1;

export type ConfigName = '1 node, SQLite' | '1 node, PostgreSQL' | '3 nodes, PostgreSQL';

export interface Config {
  name: ConfigName;
  key: 'sqlite_1' | 'pg_1' | 'pg_3';
  nodes: number;
  postgres: boolean;
}

export const CONFIGS: Config[] = [
  { name: '1 node, SQLite', key: 'sqlite_1', nodes: 1, postgres: false },
  { name: '1 node, PostgreSQL', key: 'pg_1', nodes: 1, postgres: true },
  { name: '3 nodes, PostgreSQL', key: 'pg_3', nodes: 3, postgres: true },
];
