/**
 * Publishes a partition's control records (written to the `control_outbox`
 * table in the transaction of the commit that made them) to the partitions
 * they are for, in order, then marks them published. A crash between the
 * commit and the publish leaves them in the outbox: whoever holds the
 * partition next publishes them. A second publish of a record is harmless:
 * its receiver applies each record once (by source partition and position).
 */
import type { ControlRecord } from '../core/control.ts';
import type { NatsEventLog } from '../log/nats/nats-event-log.ts';

/** What the publisher needs of the PostgreSQL store. */
export interface ControlOutbox {
  pendingControl(partition: number, limit: number): Promise<ControlRecord[]>;
  controlPublished(partition: number, at: number, index: number): Promise<void>;
}

const CHUNK = 500;

export class ControlPublisher {
  private running: Promise<void> | undefined;
  private again = false;
  private closed = false;

  constructor(
    private readonly outbox: ControlOutbox,
    private readonly log: NatsEventLog,
    readonly partition: number,
    private readonly onError: (e: unknown) => void,
  ) {}

  /** Publishes what waits (once more after the current run, if one is on). */
  kick(): void {
    if (this.closed) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.run()
      .catch((e: unknown) => this.onError(e))
      .finally(() => {
        this.running = undefined;
        if (this.again && !this.closed) {
          this.again = false;
          this.kick();
        }
      });
  }

  private async run(): Promise<void> {
    for (;;) {
      const rows = await this.outbox.pendingControl(this.partition, CHUNK);
      if (rows.length === 0 || this.closed) return;
      await this.log.publishControl(rows);
      const last = rows[rows.length - 1]!;
      await this.outbox.controlPublished(this.partition, last.at, last.index);
      if (rows.length < CHUNK) return;
    }
  }

  /** Stops after the run in progress (what is left waits in the outbox for the next holder). */
  async close(): Promise<void> {
    this.closed = true;
    await this.running;
  }
}
