/** The PortraitError a call rejects with (a test failure when it resolves or throws anything else). */
import { strict as assert } from 'node:assert';
import { isPortraitError } from '../../src/core/errors.ts';

export async function errorOf(f: () => Promise<unknown>): Promise<{ code: string; status: number; problems: Array<{ path: string; message: string }> }> {
  try {
    await f();
  } catch (e) {
    if (isPortraitError(e)) return e;
    throw e;
  }
  assert.fail('expected an error');
}
