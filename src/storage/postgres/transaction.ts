/** Transactions on one pooled connection. */
import type pg from 'pg';

/** Runs `fn` on one pooled connection inside a transaction: committed when it resolves, rolled back when it throws. */
export async function withTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>, begin = 'BEGIN'): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query(begin);
    const out = await fn(client);
    await client.query('COMMIT');
    return out;
  } catch (e) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw e;
  } finally {
    client.release();
  }
}

/**
 * The SQLSTATEs with which PostgreSQL rolls a transaction back and asks the
 * client to run it again: a deadlock's victim, a serialization failure.
 */
const RUN_AGAIN = new Set(['40P01', '40001']);

/** Whether PostgreSQL rolled the transaction back only so that it be run again. */
export function runAgain(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' && RUN_AGAIN.has(code);
}

/**
 * withTransaction, run again (up to `attempts` times, after a short random
 * pause) when PostgreSQL chose it as a deadlock's victim: partitions that
 * commit at the same moment may lock shared rows (identities, merges, routes)
 * in different orders. `fn` must do nothing but queries on the client, so
 * that a rolled-back run leaves no trace.
 */
export async function withRetriedTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>, attempts = 5): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await withTransaction(pool, fn);
    } catch (e) {
      if (attempt >= attempts || !runAgain(e)) throw e;
      await new Promise((r) => setTimeout(r, Math.random() * 20 * attempt));
    }
  }
}
