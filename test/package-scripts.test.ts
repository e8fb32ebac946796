import { strict as assert } from 'node:assert';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';

const root = join(import.meta.dirname, '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string>; bin: Record<string, string> };

/** The words of a command that name a file of the project: a relative path with a directory, or a file with a known extension. */
function filesNamed(command: string): string[] {
  return command
    .split(/\s+/)
    .filter((w) => !w.startsWith('-') && !w.startsWith('$') && !w.includes('*') && !w.includes("'"))
    .filter((w) => /\.(?:[cm]?[jt]s|json)$/.test(w) || /^\.{0,2}\/?[\w-]+\/[\w./-]+$/.test(w));
}

describe('package scripts', () => {
  it('name only files that exist', () => {
    const missing: string[] = [];
    for (const [name, command] of Object.entries(pkg.scripts)) {
      for (const f of filesNamed(command)) if (!existsSync(join(root, f))) missing.push(`${name}: ${f}`);
    }
    assert.deepEqual(missing, [], 'every file a script names is in the repository');
  });

  it('the check sees the files a script names', () => {
    assert.deepEqual(filesNamed('node --import tsx bench/run.ts'), ['bench/run.ts']);
    assert.deepEqual(filesNamed('tsc -p tsconfig.build.json'), ['tsconfig.build.json']);
    assert.deepEqual(filesNamed('node bin/portrait.js serve'), ['bin/portrait.js']);
    assert.deepEqual(filesNamed("npm run typecheck && node --test $(find src test -name '*.test.ts' | sort)"), []);
  });

  it('the command-line entry exists', () => {
    for (const [name, file] of Object.entries(pkg.bin)) assert.ok(existsSync(join(root, file)), `${name} → ${file}`);
  });
});
