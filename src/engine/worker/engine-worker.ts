/**
 * The engine's worker thread: its own connections to the log (read) and the
 * state store (write). The main thread tells it when records are appended;
 * it reports each commit back.
 */
import { parentPort } from 'node:worker_threads';
import { systemClock, type Clock } from '../../core/clock.ts';
import type { Positioned } from '../../core/event.ts';
import { isPortraitError } from '../../core/errors.ts';
import { runInBackground, threadData } from '../../core/thread/index.ts';
import type { EventLog } from '../../log/index.ts';
import { SqliteEventLog } from '../../log/index.ts';
import { SqliteStore } from '../../storage/index.ts';
import { DataKeys, Keyring, loadKeyring, PiiSealer, SealedEventLog } from '../../privacy/index.ts';
import { Definitions } from '../definitions.ts';
import { consentPolicyOf, scoreSpecsOf } from '../../config/load.ts';
import { Engine } from '../engine.ts';
import { engineOptions } from '../options.ts';
import { emailReferencer } from '../../ingest/index.ts';
import type { FromWorker, ToWorker, WorkerInit } from './protocol.ts';

const init = threadData<WorkerInit>();

// Folding is background work: ingest and reads on the other threads come first when cores are short.
runInBackground();
const port = parentPort!;
const post = (m: FromWorker) => port.postMessage(m);

/** The log as this thread sees it: reads go to SQLite, the head comes from the writer's messages. */
class FollowerLog implements EventLog {
  private known: number;
  private readonly listeners = new Set<() => void>();
  constructor(private readonly inner: EventLog) {
    this.known = inner.head();
  }
  advance(head: number): void {
    if (head > this.known) this.known = head;
    for (const l of this.listeners) l();
  }
  append(): never {
    throw new Error('the engine thread never appends to the log');
  }
  read(after: number, limit: number): Promise<Positioned[]> {
    return this.inner.read(after, limit);
  }
  head(): number {
    return this.known;
  }
  eventsFor(...args: Parameters<EventLog['eventsFor']>): ReturnType<EventLog['eventsFor']> {
    return this.inner.eventsFor(...args);
  }
  onAppend(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  erase(...args: Parameters<EventLog['erase']>): ReturnType<EventLog['erase']> {
    return this.inner.erase(...args);
  }
  groupEvents(...args: Parameters<EventLog['groupEvents']>): ReturnType<EventLog['groupEvents']> {
    return this.inner.groupEvents(...args);
  }
  async expireDedup(): Promise<number> {
    return 0;
  }
  purge(): never {
    throw new Error('the engine thread never purges the log');
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

const keyring = Keyring.fromJson(JSON.stringify(init.keyring), 'the keyring sent to the engine thread');
// Personal attribute values are sealed at rest with the master keyring, as on the main thread.
const sealer = new PiiSealer(keyring, init.config.privacy.piiFields, () => loadKeyring(init.config, false));
// engine.commitThread: commits are written by a thread of their own while this one encodes them.
// Checkpoints of the state file run in a thread of their own, so no commit waits for one.
const store = new SqliteStore({ file: init.stateFile, sealer, commitThread: init.config.engine.commitThread, checkpointThread: true });
/** The main thread's injected time, when it sends one; else the system clock. */
let followed = 0;
const clock: Clock = init.followClock ? { now: () => followed } : systemClock;
// Events are read through the same sealing decorator as on the main thread: opened with their owners' data keys.
const hashKey = Buffer.from(init.hashKeyHex, 'hex');
// As many keys cached as profiles: a cached profile's events open without a lookup.
const dataKeys = new DataKeys({ table: store.dataKeys, keyring, hashKey, clock, cacheSize: init.config.engine.cacheProfiles });
const log = new FollowerLog(new SealedEventLog(new SqliteEventLog({ file: init.logFile, durability: init.config.durability }), dataKeys, init.config.privacy.piiFields, emailReferencer(hashKey)));
const definitions = new Definitions({ setOnce: new Set(init.config.attributes.setOnce), types: init.config.attributes.types }, consentPolicyOf(init.config), scoreSpecsOf(init.config));
const engine = new Engine({
  ...engineOptions(init.config, { log, store, definitions, clock, hashKey }),
  onCommit: (position) => post({ type: 'committed', position }),
  onError: (e) => post({ type: 'error', ...describe(e) }),
  // The sealing log sits under the follower wrapper here: erasures destroy data keys through it.
  onErased: async (workspace, identKeys) => void (await dataKeys.destroy(workspace, identKeys)),
});

/** The keys of a learn-keys message, each a view on the message's buffer. */
function* learnedKeys(subjects: readonly string[], keys: Uint8Array): Iterable<[string, Buffer]> {
  const size = keys.length / subjects.length;
  for (let i = 0; i < subjects.length; i++) yield [subjects[i]!, Buffer.from(keys.buffer, keys.byteOffset + i * size, size)];
}

function describe(e: unknown): { code?: string; message: string } {
  return isPortraitError(e) ? { code: e.code, message: e.message } : { message: e instanceof Error ? e.message : String(e) };
}

port.on('message', (m: ToWorker) => {
  if (m.now !== undefined) followed = m.now;
  switch (m.type) {
    case 'start':
      // Definitions may have changed while stopped (a rebuild, new versions): read them afresh.
      // The checkpoint thread loads before the first commit, not while the engine is folding.
      void store
        .ready()
        .then(() => store.definitions())
        .then((rows) => {
          definitions.replace(rows);
          return engine.start({ bulk: m.bulk === true });
        })
        .then(() => post({ type: 'started', position: engine.committedPosition() }), (e) => post({ type: 'error', ...describe(e) }));
      break;
    case 'appended':
      log.advance(m.head);
      break;
    case 'kick':
      engine.kick();
      break;
    case 'forget-keys':
      dataKeys.forget(m.workspace, m.subjects);
      break;
    case 'learn-keys':
      dataKeys.learn(m.workspace, learnedKeys(m.subjects, m.keys));
      break;
    case 'drain':
      log.advance(m.head);
      engine.drain().then(
        () => post({ type: 'drained', id: m.id }),
        (e) => post({ type: 'drain-failed', id: m.id, ...describe(e) }),
      );
      break;
    case 'stop':
      void engine.stop().then(() => post({ type: 'stopped', position: engine.committedPosition() }));
      break;
    default: {
      const never: never = m;
      throw new Error(`unknown message ${JSON.stringify(never)}`);
    }
  }
});
