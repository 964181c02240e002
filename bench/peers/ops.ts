/**
 * Operations of bench/peers the harness itself needs between scenarios (no load): the store's
 * change counter, and the NATS KV bucket's creation.
 */
import { Http, b64 } from './proto-http.js';
import { Nats } from './proto-nats.js';
import { Redis } from './proto-redis.js';

export type PeerKind = 'koor' | 'etcd' | 'redis' | 'nats';

export const NATS_BUCKET = 'KV_bench';
/** A key (`a/b`) as the subject of the bench bucket (`$KV.bench.a.b`). */
export const kvSubject = (key: string): string => `$KV.bench.${key.replace(/\//g, '.')}`;

/** The bucket a NATS KV "bench" is (as nats.js kv.create() makes it, history 1, file storage). */
export async function natsSetup(port: number): Promise<void> {
  const n = await Nats.connect(port);
  try {
    await n.api(`$JS.API.STREAM.CREATE.${NATS_BUCKET}`, {
      name: NATS_BUCKET,
      subjects: ['$KV.bench.>'],
      retention: 'limits',
      max_msgs_per_subject: 1,
      max_consumers: -1,
      max_msgs: -1,
      max_bytes: -1,
      max_age: 0,
      max_msg_size: -1,
      storage: 'file',
      discard: 'new',
      num_replicas: 1,
      duplicate_window: 120_000_000_000,
      allow_rollup_hdrs: true,
      deny_delete: true,
      allow_direct: true,
    });
  } finally {
    n.close();
  }
}

/**
 * The store's change counter now: koor's and etcd's store-wide revision, the NATS bucket's last
 * stream sequence, Redis's count of SET calls. Each acknowledged write must have moved it.
 */
export async function revision(spec: { peer: PeerKind; port: number }): Promise<number> {
  switch (spec.peer) {
    case 'koor': {
      const h = new Http(spec.port, 1);
      try {
        const r = await h.request('GET', '/api/state?prefix=%2Fnone%2F&limit=1');
        return Number(r.headers['x-koor-revision']);
      } finally {
        h.close();
      }
    }
    case 'etcd': {
      const h = new Http(spec.port, 1);
      try {
        return Number((await h.json<{ header: { revision: string } }>('POST', '/v3/kv/range', { key: b64('/none/') })).json.header.revision);
      } finally {
        h.close();
      }
    }
    case 'nats': {
      const n = await Nats.connect(spec.port);
      try {
        return (await n.api<{ state: { last_seq: number } }>(`$JS.API.STREAM.INFO.${NATS_BUCKET}`)).state.last_seq;
      } finally {
        n.close();
      }
    }
    case 'redis': {
      const r = await Redis.connect(spec.port);
      try {
        const info = String(await r.command('INFO', 'commandstats'));
        return Number(/cmdstat_set:calls=(\d+)/.exec(info)?.[1] ?? 0);
      } finally {
        r.close();
      }
    }
  }
}

