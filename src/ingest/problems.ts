/**
 * Turns Ajv errors into Portrait `Problem`s: one per offending field, with a
 * JSON-pointer path and a message saying what the field must be. Messages
 * reuse each schema's `description` (see `schema.ts`), so they stay in step.
 */
import type { ErrorObject } from 'ajv';
import type { Problem } from '../core/errors.ts';

/**
 * Adds a problem unless its field already has one (the first says most:
 * a wrong type hides a length limit; a missing type hides a missing id).
 */
export function addProblem(problems: Problem[], path: string, message: string): void {
  for (const p of problems) if (p.path === path) return;
  problems.push({ path, message });
}

/** Whether a field already has a problem. */
export function hasProblem(problems: readonly Problem[], path: string): boolean {
  for (const p of problems) if (p.path === path) return true;
  return false;
}

/** Appends one problem per offending field. Needs Ajv's `verbose` option (for `parentSchema`). */
export function addAjvProblems(problems: Problem[], errors: readonly ErrorObject[] | null | undefined): void {
  if (!errors) return;
  for (const e of errors) {
    if (e.keyword === 'required') {
      const name = String((e.params as { missingProperty?: unknown }).missingProperty);
      const props = (e.parentSchema as { properties?: Record<string, unknown> } | undefined)?.properties;
      addProblem(problems, `${e.instancePath}/${escapePointer(name)}`, `required: ${expectation(props?.[name])}`);
    } else if (e.keyword === 'type' || e.keyword === 'minLength' || e.keyword === 'maxLength' || e.keyword === 'const') {
      addProblem(problems, e.instancePath, `must be ${expectation(e.parentSchema)}`);
    } else {
      addProblem(problems, e.instancePath, e.message ?? 'is invalid');
    }
  }
}

/** Orders problems by path, so that the same message always reports them in the same order. */
export function sortProblems(problems: Problem[]): Problem[] {
  return problems.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** What a schema accepts, in words: its description, else its JSON type. */
function expectation(schema: unknown): string {
  if (typeof schema !== 'object' || schema === null) return 'present';
  const { description, type, const: constant } = schema as { description?: unknown; type?: unknown; const?: unknown };
  if (typeof description === 'string') return description;
  if (constant !== undefined) return JSON.stringify(constant);
  if (typeof type === 'string') return `of type ${type}`;
  if (Array.isArray(type)) return `of type ${type.join(' or ')}`;
  return 'valid';
}

function escapePointer(segment: string): string {
  return segment.replace(/~/g, '~0').replace(/\//g, '~1');
}
