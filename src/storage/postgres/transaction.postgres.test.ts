import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { serviceSkip, tempDatabase } from '../../../test/support/services.ts';
import { runAgain, withRetriedTransaction, withTransaction } from './transaction.ts';

const skip = await serviceSkip('PostgreSQL');

/** Resolves once `n` callers have arrived. */
function barrier(n: number): () => Promise<void> {
  let arrived = 0;
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  return () => {
    if (++arrived === n) open();
    return opened;
  };
}

describe('PostgreSQL transactions run again after a deadlock', { skip }, () => {
  let db: Awaited<ReturnType<typeof tempDatabase>>;
  let pool: pg.Pool;
  before(async () => {
    db = await tempDatabase();
    pool = new pg.Pool({ connectionString: db.url, max: 4 });
  });
  after(async () => {
    await pool?.end();
    await db?.drop();
  });

  /** Two transactions that lock rows 1 and 2 in opposite orders, each waiting until the other holds its first row. */
  async function crossing(run: typeof withRetriedTransaction, table: string): Promise<{ outcomes: PromiseSettledResult<void>[]; runs: number }> {
    await pool.query(`CREATE TABLE ${table} (id int PRIMARY KEY, v int NOT NULL)`);
    await pool.query(`INSERT INTO ${table} VALUES (1, 0), (2, 0)`);
    const bothHoldOne = barrier(2);
    let runs = 0;
    const cross = (first: number, second: number) =>
      run(pool, async (c) => {
        runs++;
        await c.query(`UPDATE ${table} SET v = v + 1 WHERE id = $1`, [first]);
        await bothHoldOne();
        await c.query(`UPDATE ${table} SET v = v + 1 WHERE id = $1`, [second]);
      });
    const outcomes = await Promise.allSettled([cross(1, 2), cross(2, 1)]);
    return { outcomes, runs };
  }

  it('without running again, one of two crossing transactions fails as the deadlock victim (40P01)', async () => {
    const { outcomes } = await crossing((p, fn) => withTransaction(p, fn), 'crossing_once');
    const failed = outcomes.filter((o) => o.status === 'rejected');
    assert.equal(failed.length, 1, 'PostgreSQL picks one victim');
    assert.ok(runAgain(failed[0]!.reason), `the victim's error asks to run again: ${String(failed[0]!.reason)}`);
    const rows = (await pool.query<{ v: number }>('SELECT v FROM crossing_once ORDER BY id')).rows.map((r) => r.v);
    assert.deepEqual(rows, [1, 1], 'only the survivor committed');
  });

  it('with withRetriedTransaction both commit: the victim runs once more, after the survivor', async () => {
    const { outcomes, runs } = await crossing(withRetriedTransaction, 'crossing_again');
    assert.deepEqual(
      outcomes.map((o) => o.status),
      ['fulfilled', 'fulfilled'],
    );
    assert.equal(runs, 3, 'the victim ran twice, the survivor once');
    const rows = (await pool.query<{ v: number }>('SELECT v FROM crossing_again ORDER BY id')).rows.map((r) => r.v);
    assert.deepEqual(rows, [2, 2], 'each transaction counted once');
  });

  it('does not run again after any other error, and rolls back', async () => {
    await pool.query('CREATE TABLE unique_once (id int PRIMARY KEY)');
    let runs = 0;
    await assert.rejects(
      withRetriedTransaction(pool, async (c) => {
        runs++;
        await c.query('INSERT INTO unique_once VALUES (1)');
        await c.query('INSERT INTO unique_once VALUES (1)');
      }),
      (e: unknown) => (e as { code?: string }).code === '23505',
    );
    assert.equal(runs, 1);
    assert.equal((await pool.query('SELECT * FROM unique_once')).rowCount, 0, 'nothing of it stays');
  });

  it('gives up after the attempts it was given, with the last error', async () => {
    let runs = 0;
    const deadlock = Object.assign(new Error('deadlock detected'), { code: '40P01' });
    await assert.rejects(
      withRetriedTransaction(
        pool,
        async () => {
          runs++;
          throw deadlock;
        },
        3,
      ),
      (e: unknown) => e === deadlock,
    );
    assert.equal(runs, 3);
  });
});
