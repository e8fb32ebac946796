import assert from 'node:assert/strict';
import { getPriority } from 'node:os';
import { test } from 'node:test';
import { nodeOptions, procThreads, runV8HelpersInBackground, v8PlatformThreads, type ProcThread } from './priority.ts';

const named = (tids: number[], name = 'node'): ProcThread[] => tids.map((tid) => ({ tid, name }));

test('the five threads after the main one, started with the process, are V8 platform threads', () => {
  const threads = [...named([100, 102, 103, 104, 105, 106, 107, 108]), { tid: 120, name: 'engine-worker' }];
  assert.deepEqual(
    v8PlatformThreads(threads, 100, []).map((t) => t.tid),
    [102, 103, 104, 105, 106],
  );
});

test('a libuv thread or a worker thread started later is never taken', () => {
  // Listed out of order, as /proc may list them: the lowest ids are the platform's.
  const threads = [...named([140, 141]), { tid: 130, name: 'writer-thread' }, ...named([100, 106, 105, 104, 103, 102])];
  const picked = v8PlatformThreads(threads, 100, []).map((t) => t.tid);
  assert.deepEqual(picked, [102, 103, 104, 105, 106]);
  assert.ok(!picked.includes(140) && !picked.includes(141));
});

test('nothing is taken when the start-up order is not the expected one', () => {
  // A renamed thread among the first five: not the layout Node starts with.
  assert.deepEqual(v8PlatformThreads([...named([100, 101, 102, 103]), { tid: 104, name: 'writer-thread' }, ...named([105, 106])], 100, []), []);
  // Fewer threads than the pool has: not a Node process as expected.
  assert.deepEqual(v8PlatformThreads(named([100, 101, 102]), 100, []), []);
  // The main thread missing from the list.
  assert.deepEqual(v8PlatformThreads(named([101, 102, 103, 104, 105]), 100, []), []);
});

test('nothing is taken when the pool size was set on the command line', () => {
  const threads = named([100, 101, 102, 103, 104, 105, 106]);
  assert.deepEqual(v8PlatformThreads(threads, 100, ['--v8-pool-size=2']), []);
  assert.deepEqual(v8PlatformThreads(threads, 100, ['--max-old-space-size=4096', '--v8-pool-size', '8']), []);
  assert.deepEqual(v8PlatformThreads(threads, 100, ['--v8_pool_size=2']), []);
  assert.equal(v8PlatformThreads(threads, 100, ['--max-old-space-size=4096']).length, 5);
});

test('on Linux, this process keeps its main thread and its later threads at their priority and lowers the platform threads', { skip: process.platform !== 'linux' && 'thread priorities are per thread on Linux only' }, () => {
  const before = new Map(procThreads().map((t) => [t.tid, getPriority(t.tid)]));
  const platform = new Set(v8PlatformThreads(procThreads(), process.pid, nodeOptions()).map((t) => t.tid));
  assert.equal(platform.size, 5, 'a Node process started without --v8-pool-size has four pool threads and a scheduler after its main thread');
  runV8HelpersInBackground();
  for (const t of procThreads()) {
    const expected = platform.has(t.tid) ? 10 : before.get(t.tid);
    if (expected !== undefined) assert.equal(getPriority(t.tid), expected, `thread ${t.tid} (${t.name})`);
  }
  assert.equal(getPriority(process.pid), before.get(process.pid));
});
