/**
 * The SQLite DestinationStore run on a thread of its own (destination-store-thread.ts),
 * for a state file: the delivery loop claims, records and dispatches there,
 * so its waits for the engine's write lock never stall the event loop that
 * answers reads and ingest. Each call is the same method of
 * SqliteDestinationStore, with the same transactions; this class only
 * carries calls and answers. The thread starts at the first call (the
 * schema is made there) and answers calls in the order they were sent.
 */
import { Errors } from '../core/errors.ts';
import { startThread, ThreadCalls } from '../core/thread/index.ts';
import type { Destination } from './destination.ts';
import type { DeadLetter, Delivery, DeliveryStatus, DestinationHealth, DestinationStore, DueDelivery, MemberRow, OutboxRow } from './destination-store.ts';
import type { DestinationThreadInit, StoreMethod, ToDestinationThread } from './destination-thread-protocol.ts';

type Method<M extends StoreMethod> = DestinationStore[M] extends (...args: infer A) => infer R ? { args: A; result: R } : never;

export class ThreadedDestinationStore implements DestinationStore {
  private calls: ThreadCalls<ToDestinationThread> | undefined;
  private closed = false;

  constructor(private readonly init: DestinationThreadInit) {}

  private call<M extends StoreMethod>(method: M, ...args: Method<M>['args']): Method<M>['result'] {
    if (this.closed) return Promise.reject(Errors.closed()) as Method<M>['result'];
    this.calls ??= new ThreadCalls(startThread(new URL('./destination-store-thread.ts', import.meta.url), this.init), (why) => Errors.storage(`keeping webhook deliveries (${why})`));
    return this.calls.call({ type: 'call', method, args }) as Method<M>['result'];
  }

  destination(id: string): Promise<Destination | undefined> {
    return this.call('destination', id);
  }
  destinations(workspace?: string): Promise<Destination[]> {
    return this.call('destinations', workspace);
  }
  insert(d: Destination): Promise<boolean> {
    return this.call('insert', d);
  }
  update(d: Destination): Promise<void> {
    return this.call('update', d);
  }
  remove(id: string): Promise<void> {
    return this.call('remove', id);
  }
  cursor(id: string): Promise<number> {
    return this.call('cursor', id);
  }

  /**
   * A function cannot cross to the thread: `beforeCommit` (a test's failure
   * injection) runs here before the call is sent, so a failure it throws
   * leaves the store as a rolled-back transaction would (nothing created,
   * the cursor where it was). The transaction itself is SqliteDestinationStore's.
   */
  async dispatch(d: Destination, limit: number, now: number, beforeCommit?: () => void): Promise<{ scanned: number; created: number }> {
    beforeCommit?.();
    return this.call('dispatch', d, limit, now);
  }
  claimDue(now: number, limit: number, leaseMs: number): Promise<DueDelivery[]> {
    return this.call('claimDue', now, limit, leaseMs);
  }
  delivered(dl: DueDelivery, responseCode: number, now: number): Promise<void> {
    return this.call('delivered', dl, responseCode, now);
  }
  failed(dl: DueDelivery, responseCode: number | null, error: string, now: number, retryAt: number | null): Promise<void> {
    return this.call('failed', dl, responseCode, error, now, retryAt);
  }
  nextDueAt(): Promise<number | undefined> {
    return this.call('nextDueAt');
  }
  health(): Promise<DestinationHealth[]> {
    return this.call('health');
  }
  deliveries(destination: string, o: { status?: DeliveryStatus; after?: number; limit: number }): Promise<Delivery[]> {
    return this.call('deliveries', destination, o);
  }
  deadLetters(destination: string, o: { replayed?: boolean; after?: number; limit: number }): Promise<DeadLetter[]> {
    return this.call('deadLetters', destination, o);
  }
  replay(destination: string, deliveryId: string | undefined, now: number): Promise<string[]> {
    return this.call('replay', destination, deliveryId, now);
  }
  appendOutbox(rows: ReadonlyArray<Omit<OutboxRow, 'seq'>>): Promise<number[]> {
    return this.call('appendOutbox', rows);
  }
  addMembers(rows: ReadonlyArray<{ workspace: string; segment: string; profileId: string; since: number }>): Promise<void> {
    return this.call('addMembers', rows);
  }
  membersPage(workspace: string, segment: string, after: string, limit: number): Promise<MemberRow[]> {
    return this.call('membersPage', workspace, segment, after, limit);
  }

  /** Finishes the calls already sent, then stops the thread. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.calls?.finish({ type: 'close' });
  }
}
