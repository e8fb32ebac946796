/** Helpers to open a Portrait for tests. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../../src/core/clock.ts';
import { Portrait } from '../../src/index.ts';
import type { ConfigInput } from '../../src/config/index.ts';

export const T0 = Date.UTC(2026, 10, 1);

export async function openMemory(config: ConfigInput = {}, clock = new ManualClock(T0)): Promise<{ p: Portrait; clock: ManualClock }> {
  const p = await Portrait.open({ identity: { hashKey: '00'.repeat(32) }, ...config }, { memory: true, clock });
  return { p, clock };
}

export function tempDir(prefix = 'portrait-test-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
