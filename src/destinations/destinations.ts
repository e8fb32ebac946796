/**
 * The destinations part as the library exposes it: definitions (API and
 * config file), the delivery loop, the delivery log, dead letters, replay
 * and audience export. Portrait opens one per instance over the state
 * database's DestinationStore (SQLite or PostgreSQL).
 */
import { randomBytes } from 'node:crypto';
import type { Clock } from '../core/clock.ts';
import { Errors, type Problem } from '../core/errors.ts';
import {
  validateDestination,
  viewOf,
  type ConfigDestination,
  type Destination,
  type DestinationView,
  type KnownNames,
} from './destination.ts';
import { DeliveryWorker, type DeliveryOptions } from './delivery-worker.ts';
import { exportSegment, type ExportOptions } from './export.ts';
import type { ValueSealer } from '../storage/sealer.ts';
import type { FetchLike } from './sender.ts';
import type { DeadLetter, Delivery, DeliveryStatus, DestinationHealth, DestinationStore } from './destination-store.ts';

export interface DestinationsOptions {
  store: DestinationStore;
  clock: Clock;
  delivery: DeliveryOptions;
  /** Destinations from the config file (already schema-checked as unknown values). */
  configured: readonly unknown[];
  defaultWorkspace: string;
  /** The configured consent purposes a destination may declare (absent: any). */
  purposes?: readonly string[];
  /** The defined tags, read at each check: a tag filter names one or a branch above one (absent: not checked). */
  tags?: () => Promise<readonly string[]>;
  rng?: () => number;
  fetch?: FetchLike;
  /** Opens sealed personal values in stored profiles (audience export). */
  sealer?: ValueSealer;
}

export interface Paged<T> {
  items: T[];
  /** The `after` of the next page, when there may be one. */
  next?: number;
}

export class Destinations {
  /** Exposed for tests and tools (filling the outbox, segment members). */
  readonly store: DestinationStore;
  readonly worker: DeliveryWorker;

  private constructor(private readonly o: DestinationsOptions) {
    this.store = o.store;
    this.worker = new DeliveryWorker({ store: this.store, clock: o.clock, options: o.delivery, rng: o.rng, fetch: o.fetch });
  }

  /** Opens the destinations over a store, making the config-file ones exist as written; the loop is not started. */
  static async open(o: DestinationsOptions): Promise<Destinations> {
    const d = new Destinations(o);
    await d.syncConfig(o.configured);
    return d;
  }

  /**
   * Makes the config-file destinations exist as written: new ones are added,
   * changed ones updated, ones removed from the file deleted. API-made ones
   * are untouched. Processes starting together on one database may all run it.
   */
  private async syncConfig(raw: readonly unknown[]): Promise<void> {
    const problems: Problem[] = [];
    const wanted: ConfigDestination[] = [];
    const known = await this.known();
    raw.forEach((r, i) => {
      try {
        wanted.push(validateDestination(r, 'config', known));
      } catch (e) {
        for (const p of (e as { problems?: Problem[] }).problems ?? []) problems.push({ path: `/destinations/${i}${p.path}`, message: p.message });
      }
    });
    if (problems.length > 0) throw Errors.invalidConfig('the configuration', problems);
    const now = this.o.clock.now();
    const ids = new Set<string>();
    for (const c of wanted) {
      if (ids.has(c.id)) throw Errors.invalidConfig('the configuration', [{ path: '/destinations', message: `duplicate destination id "${c.id}"` }]);
      ids.add(c.id);
      const existing = await this.store.destination(c.id);
      if (existing && existing.source !== 'config') throw Errors.destinationExists(c.id);
      const d: Destination = {
        id: c.id,
        workspace: c.workspace ?? this.o.defaultWorkspace,
        url: c.url,
        secret: c.secret,
        kinds: c.kinds,
        segments: c.segments ?? null,
        tags: c.tags ?? null,
        enabled: c.enabled ?? true,
        ...(c.purpose !== undefined ? { purpose: c.purpose } : {}),
        source: 'config',
        createdAt: existing?.createdAt ?? now,
        updatedAt: now,
      };
      // insert answers false when another process starting on the same file added it a moment ago: nothing left to do.
      if (!existing) await this.store.insert(d);
      else if (existing.workspace !== d.workspace) {
        await this.store.remove(d.id);
        await this.store.insert(d);
      } else if (JSON.stringify({ ...existing, updatedAt: 0 }) !== JSON.stringify({ ...d, updatedAt: 0 })) await this.store.update(d);
    }
    for (const d of await this.store.destinations()) if (d.source === 'config' && !ids.has(d.id)) await this.store.remove(d.id);
  }

  private async known(): Promise<KnownNames> {
    return { purposes: this.o.purposes, tags: await this.o.tags?.() };
  }

  private async require(workspace: string, id: string): Promise<Destination> {
    const d = await this.store.destination(id);
    if (d === undefined || d.workspace !== workspace) throw Errors.destinationNotFound(id);
    return d;
  }

  /** The workspace's destinations (without secrets). */
  async list(workspace: string): Promise<DestinationView[]> {
    return (await this.store.destinations(workspace)).map(viewOf);
  }

  /** One destination (without its secret); throws PORTRAIT_DESTINATION_NOT_FOUND. */
  async get(workspace: string, id: string): Promise<DestinationView> {
    return viewOf(await this.require(workspace, id));
  }

  /** Creates a destination from an API body; returns it with its secret (shown only here). */
  async create(workspace: string, raw: unknown): Promise<DestinationView & { secret: string }> {
    const input = validateDestination(raw, 'input', await this.known());
    const id = input.id ?? `dst_${randomBytes(6).toString('hex')}`;
    const now = this.o.clock.now();
    const d: Destination = {
      id,
      workspace,
      url: input.url,
      secret: input.secret ?? `whsec_${randomBytes(24).toString('hex')}`,
      kinds: input.kinds,
      segments: input.segments ?? null,
      tags: input.tags ?? null,
      enabled: input.enabled ?? true,
      ...(input.purpose !== undefined ? { purpose: input.purpose } : {}),
      source: 'api',
      createdAt: now,
      updatedAt: now,
    };
    if (!(await this.store.insert(d))) throw Errors.destinationExists(id);
    // The loop may be skipping engine commits for want of a destination: from now on it must not.
    if (d.enabled) this.worker.wake();
    return { ...viewOf(d), secret: d.secret };
  }

  /** Changes some fields of an API-made destination. */
  async update(workspace: string, id: string, raw: unknown): Promise<DestinationView> {
    const d = await this.require(workspace, id);
    if (d.source === 'config') throw Errors.destinationFromConfig(id);
    const patch = validateDestination(raw, 'patch', await this.known());
    const next: Destination = {
      ...d,
      url: patch.url ?? d.url,
      secret: patch.secret ?? d.secret,
      kinds: patch.kinds ?? d.kinds,
      segments: patch.segments ?? d.segments,
      tags: patch.tags ?? d.tags,
      enabled: patch.enabled ?? d.enabled,
      ...((patch.purpose ?? d.purpose) !== undefined ? { purpose: patch.purpose ?? d.purpose } : {}),
      updatedAt: this.o.clock.now(),
    };
    await this.store.update(next);
    if (next.enabled) this.worker.wake();
    return viewOf(next);
  }

  /** Deletes an API-made destination with its deliveries and dead letters. */
  async remove(workspace: string, id: string): Promise<void> {
    const d = await this.require(workspace, id);
    if (d.source === 'config') throw Errors.destinationFromConfig(id);
    await this.store.remove(id);
  }

  /** Per destination of every workspace: deliveries waiting, the oldest one's age, open dead letters, notifications not yet dispatched. */
  health(): Promise<DestinationHealth[]> {
    return this.store.health();
  }

  /** A destination's deliveries in creation order, paged by `after`, optionally of one status. */
  async deliveries(workspace: string, id: string, o: { status?: DeliveryStatus; after?: number; limit?: number } = {}): Promise<Paged<Delivery>> {
    await this.require(workspace, id);
    const limit = o.limit ?? 100;
    const items = await this.store.deliveries(id, { ...o, limit });
    return page(items, limit, (x) => x.seq);
  }

  /** A destination's dead letters not yet replayed (or, with `replayed`, those already replayed). */
  async deadLetters(workspace: string, id: string, o: { replayed?: boolean; after?: number; limit?: number } = {}): Promise<Paged<DeadLetter>> {
    await this.require(workspace, id);
    const limit = o.limit ?? 100;
    return page(await this.store.deadLetters(id, { ...o, limit }), limit, (x) => x.seq);
  }

  /** Re-queues one dead letter (or, without `deliveryId`, all of the destination's) with a fresh attempt budget. */
  async replay(workspace: string, id: string, deliveryId?: string): Promise<{ replayed: string[] }> {
    await this.require(workspace, id);
    const replayed = await this.store.replay(id, deliveryId, this.o.clock.now());
    if (deliveryId !== undefined && replayed.length === 0) throw Errors.deadLetterNotFound(deliveryId);
    this.worker.wake();
    return { replayed };
  }

  /** A segment's members as CSV or NDJSON text chunks, read page by page. */
  exportSegment(workspace: string, segment: string, o: ExportOptions): AsyncGenerator<string> {
    return exportSegment(this.store, workspace, segment, { sealer: this.o.sealer, ...o });
  }

  /** Starts the delivery loop. */
  start(): void {
    this.worker.start();
  }

  /** Signals that new notifications may be in the outbox. */
  wake(): void {
    this.worker.wake();
  }

  /** An engine commit may have written notifications (a pass runs only while an enabled destination exists). */
  committed(): void {
    this.worker.committed();
  }

  /** Stops the delivery loop, waiting for requests in flight. */
  stop(): Promise<void> {
    return this.worker.stop();
  }
}

function page<T>(items: T[], limit: number, key: (x: T) => number): Paged<T> {
  const last = items[items.length - 1];
  return items.length >= limit && last !== undefined ? { items, next: key(last) } : { items };
}
