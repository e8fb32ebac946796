/**
 * Partition leases in PostgreSQL: which worker owns which partition, until
 * when, with a fencing token that grows at every change of owner. Expiry is
 * judged by the database's clock, so the workers' clocks never disagree.
 * Workers also register themselves (with the same expiry) so each can compute
 * its fair share of the partitions. A rebuild raises the deployment's fence
 * (same expiry): while it is live, no other worker takes a partition.
 */
import type pg from 'pg';

/** Milliseconds since the epoch on the database's clock. */
const NOW = `(extract(epoch from clock_timestamp()) * 1000)::bigint`;

export interface Lease {
  partition: number;
  owner: string;
  token: number;
  expiresAt: number;
}

/** The rebuild fence: the worker rebuilding the deployment, and an epoch that grows at every raise. */
export interface Fence {
  owner: string;
  epoch: number;
}

/** True while another worker's rebuild fence is live (`$2` is the worker asking). */
const FENCED_OUT = `EXISTS (SELECT 1 FROM rebuild_fence f WHERE f.expires_at > ${NOW} AND f.owner <> $2)`;

export class LeaseStore {
  constructor(
    private readonly pool: pg.Pool,
    /** How long a lease (and a worker's registration) lasts without renewal (ms). */
    readonly timeoutMs: number,
  ) {}

  /** Records that `worker` is alive for another timeout; returns how many workers are alive (itself included). */
  async heartbeat(worker: string): Promise<number> {
    await this.pool.query(
      `INSERT INTO cluster_workers (worker_id, expires_at) VALUES ($1, ${NOW} + $2)
       ON CONFLICT (worker_id) DO UPDATE SET expires_at = excluded.expires_at`,
      [worker, this.timeoutMs],
    );
    const r = await this.pool.query<{ n: number }>(`SELECT COUNT(*)::int AS n FROM cluster_workers WHERE expires_at > ${NOW}`);
    return r.rows[0]?.n ?? 1;
  }

  /** Removes the worker's registration (clean shutdown). */
  async leave(worker: string): Promise<void> {
    await this.pool.query('DELETE FROM cluster_workers WHERE worker_id = $1', [worker]);
  }

  /** Every lease row, live or expired, by partition. */
  async list(): Promise<Lease[]> {
    const r = await this.pool.query<{ partition: number; owner: string; token: number; expires_at: number }>(
      `SELECT partition, owner, token, expires_at FROM partition_leases ORDER BY partition`,
    );
    return r.rows.map((x) => ({ partition: x.partition, owner: x.owner, token: Number(x.token), expiresAt: Number(x.expires_at) }));
  }

  /** Partitions whose lease is free (never taken, expired or released). */
  async free(partitions: number): Promise<number[]> {
    const r = await this.pool.query<{ p: number }>(
      `SELECT p FROM generate_series(0, $1::int - 1) AS p
       WHERE NOT EXISTS (SELECT 1 FROM partition_leases l WHERE l.partition = p AND l.expires_at > ${NOW})
       ORDER BY p`,
      [partitions],
    );
    return r.rows.map((x) => x.p);
  }

  /**
   * Takes a partition when its lease is free; returns the new fencing token,
   * or undefined when another worker holds it. One statement: two workers
   * racing for one partition cannot both win.
   */
  async acquire(partition: number, worker: string): Promise<number | undefined> {
    // While another worker's rebuild fence is live, nothing is taken (the rebuilding worker takes every partition).
    const r = await this.pool.query<{ token: number }>(
      `INSERT INTO partition_leases (partition, owner, token, expires_at) SELECT $1::int, $2::text, 1, ${NOW} + $3::bigint WHERE NOT ${FENCED_OUT}
       ON CONFLICT (partition) DO UPDATE SET owner = excluded.owner, token = partition_leases.token + 1, expires_at = excluded.expires_at
       WHERE partition_leases.expires_at <= ${NOW} AND NOT ${FENCED_OUT}
       RETURNING token`,
      [partition, worker, this.timeoutMs],
    );
    return r.rows[0] === undefined ? undefined : Number(r.rows[0].token);
  }

  /** Extends the leases `worker` still holds with these tokens; returns the partitions it still holds. */
  async renew(worker: string, held: ReadonlyMap<number, number>): Promise<Set<number>> {
    if (held.size === 0) return new Set();
    const parts = [...held.keys()];
    const r = await this.pool.query<{ partition: number }>(
      `UPDATE partition_leases l SET expires_at = ${NOW} + $2
       FROM unnest($3::int[], $4::bigint[]) AS h(partition, token)
       WHERE l.partition = h.partition AND l.token = h.token AND l.owner = $1 AND l.expires_at > ${NOW}
       RETURNING l.partition`,
      [worker, this.timeoutMs, parts, parts.map((p) => held.get(p)!)],
    );
    return new Set(r.rows.map((x) => x.partition));
  }

  /** The workers other than `worker` holding a live lease, by name. */
  async holders(worker: string): Promise<string[]> {
    const r = await this.pool.query<{ owner: string }>(`SELECT DISTINCT owner FROM partition_leases WHERE expires_at > ${NOW} AND owner <> $1 ORDER BY owner`, [worker]);
    return r.rows.map((x) => x.owner);
  }

  /** The live rebuild fence, if any. */
  async fence(): Promise<Fence | undefined> {
    const r = await this.pool.query<{ owner: string; epoch: number }>(`SELECT owner, epoch FROM rebuild_fence WHERE expires_at > ${NOW}`);
    const f = r.rows[0];
    return f === undefined ? undefined : { owner: f.owner, epoch: Number(f.epoch) };
  }

  /**
   * Raises the rebuild fence for `worker` when none is live (never raised,
   * lowered, or expired: its rebuilder died); returns the new epoch, or
   * undefined while another rebuild's fence is live.
   */
  async raiseFence(worker: string): Promise<number | undefined> {
    const r = await this.pool.query<{ epoch: number }>(
      `INSERT INTO rebuild_fence (id, owner, epoch, expires_at) VALUES (1, $1, 1, ${NOW} + $2)
       ON CONFLICT (id) DO UPDATE SET owner = excluded.owner, epoch = rebuild_fence.epoch + 1, expires_at = excluded.expires_at
       WHERE rebuild_fence.expires_at <= ${NOW}
       RETURNING epoch`,
      [worker, this.timeoutMs],
    );
    return r.rows[0] === undefined ? undefined : Number(r.rows[0].epoch);
  }

  /** Extends the fence `worker` raised with this epoch; false once it expired or was lowered. */
  async renewFence(worker: string, epoch: number): Promise<boolean> {
    const r = await this.pool.query(`UPDATE rebuild_fence SET expires_at = ${NOW} + $3 WHERE owner = $1 AND epoch = $2 AND expires_at > ${NOW}`, [worker, epoch, this.timeoutMs]);
    return r.rowCount === 1;
  }

  /** Lowers the fence `worker` raised with this epoch (a later raise is left alone). */
  async lowerFence(worker: string, epoch: number): Promise<void> {
    await this.pool.query('UPDATE rebuild_fence SET expires_at = 0 WHERE owner = $1 AND epoch = $2', [worker, epoch]);
  }

  /** Gives a partition up at once (clean shutdown or rebalancing), if `worker` still holds it with this token. */
  async release(partition: number, worker: string, token: number): Promise<void> {
    await this.pool.query('UPDATE partition_leases SET expires_at = 0 WHERE partition = $1 AND owner = $2 AND token = $3', [partition, worker, token]);
  }
}
