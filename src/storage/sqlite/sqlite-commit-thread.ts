/**
 * Commits of a SQLite state store written by a thread of their own. The
 * committing thread seals and encodes the rows (profile documents, history)
 * part by part and sends each part as it is ready; the commit thread writes
 * it meanwhile, in one transaction that ends with the rest of the changeset
 * and the position. Encoding and writing, each about half of a commit's
 * cost, so run at the same time on two cores. A commit still resolves only
 * once it is committed, and fails as a whole.
 */
import type { Worker } from 'node:worker_threads';
import { Errors, PortraitError } from '../../core/errors.ts';
import { startThread } from '../../core/thread/index.ts';
import { historyGroups, historyRow } from '../rows.ts';
import type { ValueSealer } from '../sealer.ts';
import type { Changeset } from '../store.ts';
import { restOf, sealConflicts, sealProfiles, sortedProfiles } from './sealed-rows.ts';
import type { CommitInit, FromCommitThread, ToCommitThread } from './commit-protocol.ts';

/** Rows per message: small enough that writing starts early, large enough that messages stay few. */
const PART = 1000;

export class CommitThread {
  private readonly thread: Worker;
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: () => void; reject: (e: unknown) => void }>();
  private failure: PortraitError | undefined;

  constructor(init: CommitInit) {
    this.thread = startThread(new URL('./commit-thread.ts', import.meta.url), init);
    this.thread.on('message', (m: FromCommitThread) => {
      const w = this.waiting.get(m.id);
      this.waiting.delete(m.id);
      if (m.type !== 'failed') w?.resolve();
      else w?.reject(m.code !== undefined ? new PortraitError(m.code, m.message, m.status) : Errors.storage(`writing a state commit (${m.message})`));
    });
    this.thread.on('error', (e) => this.fail(Errors.storage(`writing state commits (the commit thread failed: ${e.message})`)));
    this.thread.on('exit', () => this.fail(Errors.storage('writing state commits (the commit thread exited)')));
  }

  private fail(e: PortraitError): void {
    this.failure ??= e;
    for (const w of this.waiting.values()) w.reject(e);
    this.waiting.clear();
  }

  private send(m: ToCommitThread): void {
    this.thread.postMessage(m);
  }

  /** Commits `c` (its profiles are sorted in place); resolves once committed. */
  commit(c: Changeset, sealer: ValueSealer | undefined): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    const done = new Promise<void>((resolve, reject) => this.waiting.set(id, { resolve, reject }));
    try {
      // What needs no encoding goes first: the thread writes it while the rest is encoded.
      this.send({ type: 'begin', id, rest: restOf(c), conflicts: sealConflicts(sealer, c.attributeConflicts) });
      const profiles = sortedProfiles(c.profiles);
      for (let i = 0; i < profiles.length; i += PART) this.send({ type: 'profiles', id, rows: sealProfiles(sealer, profiles.slice(i, i + PART)) });
      const groups = historyGroups(c.history);
      for (let i = 0; i < groups.length; i += PART) this.send({ type: 'history', id, rows: groups.slice(i, i + PART).map((g) => historyRow(g, sealer)) });
      this.send({ type: 'finish', id, partition: c.partition, position: c.position });
    } catch (e) {
      // Encoding failed here: the thread drops what it wrote of this commit.
      this.send({ type: 'abort', id });
      this.waiting.delete(id);
      return Promise.reject(e);
    }
    return done;
  }

  /** Closes the thread's connection (rolling back a commit left unfinished), then ends the thread. */
  async close(): Promise<void> {
    if (this.failure === undefined) {
      const id = this.nextId++;
      await new Promise<void>((resolve, reject) => {
        this.waiting.set(id, { resolve, reject });
        this.send({ type: 'close', id });
      }).catch(() => undefined);
    }
    this.failure ??= Errors.closed();
    await this.thread.terminate();
  }
}
