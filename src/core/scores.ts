/**
 * Scores: numbers a model outside Portrait computed for a person (churn,
 * propensity, risk), carried by a message's `context.scores`. One reader of
 * that field serves ingest (an unusable score quarantines the message) and
 * the profile fold (which reports what an older message could not use).
 */
import type { Problem } from './errors.ts';
import type { Json } from './event.ts';

/** What the configuration declares about one score. */
export interface ScoreSpec {
  name: string;
  min?: number;
  max?: number;
  /** A consent purpose: the score is applied only while the profile grants it. */
  purpose?: string;
}

/** The declared scores by name. */
export type ScoreSpecs = ReadonlyMap<string, ScoreSpec>;

/** One usable score a message carries. */
export interface ScoreReading {
  name: string;
  value: number;
  /** The model (and version) that computed it, as the sender names it. */
  model?: string;
}

/** A score a message carries that cannot be used, and why. */
export interface ScoreProblem {
  /** The score's name as sent (`""` when `context.scores` itself is not an object). */
  name: string;
  value: Json;
  message: string;
}

/** Longest accepted model name, in characters. */
export const MAX_MODEL_LENGTH = 256;

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

/** The declarations (the configuration's list) by name. */
export function scoreSpecs(declared: readonly ScoreSpec[]): ScoreSpecs {
  return new Map(declared.map((d) => [d.name, d]));
}

function describe(v: unknown): string {
  if (typeof v === 'number') return String(v);
  if (v === undefined) return 'nothing';
  return JSON.stringify(v)?.slice(0, 60) ?? String(v);
}

/** The range of a declaration in words, e.g. "[0, 1]" or "at least 0". */
function range(s: ScoreSpec): string {
  if (s.min !== undefined && s.max !== undefined) return `[${s.min}, ${s.max}]`;
  return s.min !== undefined ? `at least ${s.min}` : `at most ${s.max}`;
}

/**
 * Reads `context.scores`: `{ "<name>": <number> | { "value": <number>, "model"?: <string> } }`.
 * Every declared name with a finite number in its range is a reading; every
 * other entry is a problem naming the score. Readings come sorted by name.
 */
export function readScores(raw: unknown, specs: ScoreSpecs): { scores: ScoreReading[]; problems: ScoreProblem[] } {
  const scores: ScoreReading[] = [];
  const problems: ScoreProblem[] = [];
  if (!isObject(raw)) {
    problems.push({ name: '', value: (raw ?? null) as Json, message: `must be an object of score names to numbers, not ${describe(raw)}` });
    return { scores, problems };
  }
  for (const name of Object.keys(raw).sort()) {
    const v = raw[name];
    const spec = specs.get(name);
    if (spec === undefined) {
      const known = [...specs.keys()].sort();
      problems.push({ name, value: v as Json, message: `score "${name}" is not declared (${known.length > 0 ? `declared: ${known.join(', ')}` : 'no scores are declared'}; add it to scores in the configuration)` });
      continue;
    }
    let value: unknown = v;
    let model: unknown;
    if (isObject(v)) {
      value = v.value;
      model = v.model;
      const extra = Object.keys(v).filter((k) => k !== 'value' && k !== 'model');
      if (extra.length > 0) {
        problems.push({ name, value: v as Json, message: `score "${name}" has unknown field(s) ${extra.map((k) => `"${k}"`).join(', ')}: use {"value": <number>, "model": <string>}` });
        continue;
      }
      if (model !== undefined && (typeof model !== 'string' || model.length === 0 || model.length > MAX_MODEL_LENGTH)) {
        problems.push({ name, value: v as Json, message: `score "${name}": model must be a non-empty string of at most ${MAX_MODEL_LENGTH} characters, not ${describe(model)}` });
        continue;
      }
    }
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      problems.push({ name, value: (v ?? null) as Json, message: `score "${name}" must be a finite number or {"value": <number>, "model": <string>}, not ${describe(value)}` });
      continue;
    }
    if ((spec.min !== undefined && value < spec.min) || (spec.max !== undefined && value > spec.max)) {
      problems.push({ name, value: v as Json, message: `score "${name}" is ${value}, outside its declared range ${range(spec)}` });
      continue;
    }
    scores.push(typeof model === 'string' ? { name, value, model } : { name, value });
  }
  return { scores, problems };
}

/** The problems of `context.scores` as validation problems, with their paths. */
export function scoreProblemsAt(problems: readonly ScoreProblem[], base = '/context/scores'): Problem[] {
  return problems.map((p) => ({ path: p.name === '' ? base : `${base}/${p.name.replace(/~/g, '~0').replace(/\//g, '~1')}`, message: p.message }));
}
