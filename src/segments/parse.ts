/**
 * The condition language's text form, read by a small recursive-descent
 * parser. Grammar (lowest precedence first):
 *
 *   or     := and ("or" and)*
 *   and    := unary ("and" unary)*
 *   unary  := "not" unary | "(" or ")" | "in_segment" "(" string ")" | "has_tag" "(" string ")" | "exists" ref | test
 *   test   := ref ( cmp literal | ["not"] "in" "(" literal ("," literal)* ")" | "contains" literal
 *                 | "within" duration | "older" "than" duration | ("before" | "after") time )
 *   cmp    := "=" | "!=" | ">" | ">=" | "<" | "<="
 *   duration := integer unit     (unit: s, m, h, d, w or seconds … weeks, singular or plural)
 *   time   := 2026-01-01[T00:00[:00[.000]][Z|±hh:mm]] | a quoted ISO 8601 string
 *
 * Errors name the position (0-based character offset), the line and column,
 * and what was expected.
 */
import { Errors } from '../core/errors.ts';
import type { CompareOp, Condition, Literal } from './ast.ts';
import { REF_PATTERN, SEGMENT_NAME_PATTERN, TAG_NAME_PATTERN } from './ast.ts';

type TokenKind = 'word' | 'number' | 'string' | 'time' | 'op' | '(' | ')' | ',' | 'end';
interface Token {
  kind: TokenKind;
  text: string;
  pos: number;
  value?: string | number;
}

const KEYWORDS = new Set(['and', 'or', 'not', 'in', 'exists', 'contains', 'within', 'older', 'than', 'before', 'after', 'in_segment', 'has_tag', 'true', 'false', 'null']);
const UNITS: Record<string, string> = {
  s: 's', sec: 's', secs: 's', second: 's', seconds: 's',
  m: 'm', min: 'm', mins: 'm', minute: 'm', minutes: 'm',
  h: 'h', hour: 'h', hours: 'h',
  d: 'd', day: 'd', days: 'd',
  w: 'w', week: 'w', weeks: 'w',
};
const CMP: Record<string, CompareOp> = { '=': 'eq', '==': 'eq', '!=': 'neq', '>': 'gt', '>=': 'gte', '<': 'lt', '<=': 'lte' };
const REF = new RegExp(REF_PATTERN);
const SEGMENT_NAME = new RegExp(SEGMENT_NAME_PATTERN);
const TAG_NAME = new RegExp(TAG_NAME_PATTERN);
const TIME_RE = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})?)?/;
const NUMBER_RE = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/;
const WORD_RE = /^[A-Za-z_$][A-Za-z0-9_$]*(\.[A-Za-z0-9_$]+)*/;

class Syntax extends Error {
  constructor(readonly pos: number, readonly reason: string) {
    super(reason);
  }
}

function describe(t: Token): string {
  return t.kind === 'end' ? 'the end of the condition' : `"${t.text}"`;
}

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
      continue;
    }
    const rest = src.slice(i);
    if (c === '(' || c === ')' || c === ',') {
      out.push({ kind: c, text: c, pos: i });
      i++;
      continue;
    }
    const op = /^(>=|<=|!=|==|=|>|<)/.exec(rest);
    if (op) {
      out.push({ kind: 'op', text: op[0], pos: i });
      i += op[0].length;
      continue;
    }
    if (c === '"') {
      let j = i + 1;
      while (j < src.length && src[j] !== '"') j += src[j] === '\\' ? 2 : 1;
      if (j >= src.length) throw new Syntax(i, 'this string is not closed: add a closing double quote');
      const text = src.slice(i, j + 1);
      let value: string;
      try {
        value = JSON.parse(text) as string;
      } catch {
        throw new Syntax(i, 'this string has an invalid escape (use JSON escapes such as \\" and \\n)');
      }
      out.push({ kind: 'string', text, pos: i, value });
      i = j + 1;
      continue;
    }
    const time = TIME_RE.exec(rest);
    if (time) {
      out.push({ kind: 'time', text: time[0], pos: i });
      i += time[0].length;
      continue;
    }
    const num = NUMBER_RE.exec(rest);
    if (num) {
      out.push({ kind: 'number', text: num[0], pos: i, value: Number(num[0]) });
      i += num[0].length;
      continue;
    }
    const word = WORD_RE.exec(rest);
    if (word) {
      out.push({ kind: 'word', text: word[0], pos: i });
      i += word[0].length;
      continue;
    }
    throw new Syntax(i, `unexpected character "${c}"`);
  }
  out.push({ kind: 'end', text: '', pos: src.length });
  return out;
}

class Parser {
  private i = 0;
  constructor(private readonly toks: Token[]) {}

  private peek(): Token {
    return this.toks[this.i]!;
  }
  private next(): Token {
    return this.toks[this.i++]!;
  }
  private isWord(w: string): boolean {
    const t = this.peek();
    return t.kind === 'word' && t.text === w;
  }
  private expectWord(w: string, what: string): void {
    const t = this.next();
    if (t.kind !== 'word' || t.text !== w) throw new Syntax(t.pos, `expected ${what}, found ${describe(t)}`);
  }
  private expect(kind: TokenKind, what: string): Token {
    const t = this.next();
    if (t.kind !== kind) throw new Syntax(t.pos, `expected ${what}, found ${describe(t)}`);
    return t;
  }

  parseAll(): Condition {
    const c = this.or();
    const t = this.peek();
    if (t.kind !== 'end') throw new Syntax(t.pos, `expected "and", "or" or the end of the condition, found ${describe(t)}`);
    return c;
  }

  private or(): Condition {
    const args = [this.and()];
    while (this.isWord('or')) {
      this.next();
      args.push(this.and());
    }
    return args.length === 1 ? args[0]! : { op: 'or', args };
  }

  private and(): Condition {
    const args = [this.unary()];
    while (this.isWord('and')) {
      this.next();
      args.push(this.unary());
    }
    return args.length === 1 ? args[0]! : { op: 'and', args };
  }

  private unary(): Condition {
    const t = this.peek();
    if (t.kind === '(') {
      this.next();
      const c = this.or();
      this.expect(')', 'a closing ")"');
      return c;
    }
    if (t.kind === 'word') {
      if (t.text === 'not') {
        this.next();
        return { op: 'not', arg: this.unary() };
      }
      if (t.text === 'in_segment') {
        this.next();
        return { op: 'in_segment', segment: this.name('in_segment', 'a segment name', SEGMENT_NAME, 'lower-case letters, digits and underscores, starting with a letter') };
      }
      if (t.text === 'has_tag') {
        this.next();
        return { op: 'has_tag', tag: this.name('has_tag', 'a tag name', TAG_NAME, 'lower-case words of letters, digits and underscores joined by "/", such as interest/sports') };
      }
      if (t.text === 'exists') {
        this.next();
        return { op: 'exists', ref: this.ref() };
      }
    }
    return this.test();
  }

  /** `("name")` after in_segment or has_tag: a quoted name matching `pattern`. */
  private name(after: string, what: string, pattern: RegExp, rule: string): string {
    this.expect('(', `"(" after ${after}`);
    const t = this.expect('string', `${what} in double quotes`);
    const name = t.value as string;
    if (!pattern.test(name)) throw new Syntax(t.pos, `"${name}" is not ${what} (${rule})`);
    this.expect(')', 'a closing ")"');
    return name;
  }

  private ref(): string {
    const t = this.next();
    if (t.kind !== 'word' || KEYWORDS.has(t.text)) {
      throw new Syntax(t.pos, `expected a profile input (last_seen, first_seen, event_count, consent.<purpose>, score.<name>, traits.<name> or attributes.<name>), found ${describe(t)}`);
    }
    if (!REF.test(t.text)) {
      throw new Syntax(t.pos, `"${t.text}" is not a profile input: use last_seen, first_seen, event_count, consent.<purpose>, score.<name>, traits.<name> or attributes.<name>`);
    }
    return t.text;
  }

  private test(): Condition {
    const ref = this.ref();
    const t = this.next();
    if (t.kind === 'op') return { op: CMP[t.text]!, ref, value: this.literal() };
    if (t.kind === 'word') {
      switch (t.text) {
        case 'in':
          return { op: 'in', ref, values: this.list() };
        case 'not':
          this.expectWord('in', '"in" after "not"');
          return { op: 'not_in', ref, values: this.list() };
        case 'contains':
          return { op: 'contains', ref, value: this.literal() };
        case 'within':
          return { op: 'within', ref, duration: this.duration() };
        case 'older':
          this.expectWord('than', '"than" after "older"');
          return { op: 'older_than', ref, duration: this.duration() };
        case 'before':
        case 'after':
          return { op: t.text, ref, time: this.time() };
        default:
          break;
      }
    }
    throw new Syntax(t.pos, `expected an operator after ${ref} (=, !=, >, >=, <, <=, in, not in, contains, within, older than, before, after), found ${describe(t)}`);
  }

  private literal(): Literal {
    const t = this.next();
    if (t.kind === 'string' || t.kind === 'number') return t.value!;
    if (t.kind === 'word' && (t.text === 'true' || t.text === 'false')) return t.text === 'true';
    if (t.kind === 'word' && t.text === 'null') return null;
    if (t.kind === 'time') throw new Syntax(t.pos, `a time is compared with before or after; to compare text, quote it: "${t.text}"`);
    throw new Syntax(t.pos, `expected a value (a number, a "string", true, false or null), found ${describe(t)}`);
  }

  private list(): Literal[] {
    this.expect('(', '"(" to open the list of values');
    const values = [this.literal()];
    while (this.peek().kind === ',') {
      this.next();
      values.push(this.literal());
    }
    this.expect(')', 'a "," or a closing ")"');
    return values;
  }

  private duration(): string {
    const n = this.next();
    if (n.kind !== 'number' || !/^\d{1,9}$/.test(n.text)) throw new Syntax(n.pos, `expected a whole number of time units (such as 7 days), found ${describe(n)}`);
    const u = this.next();
    const unit = u.kind === 'word' ? UNITS[u.text] : undefined;
    if (unit === undefined) throw new Syntax(u.pos, `expected a time unit (seconds, minutes, hours, days, weeks or s, m, h, d, w), found ${describe(u)}`);
    return `${Number(n.text)}${unit}`;
  }

  private time(): string {
    const t = this.next();
    if (t.kind !== 'time' && t.kind !== 'string') throw new Syntax(t.pos, `expected a date or time such as 2026-01-01 or 2026-01-01T08:00:00Z, found ${describe(t)}`);
    const text = t.kind === 'string' ? (t.value as string) : t.text;
    const ms = Date.parse(text);
    if (!Number.isFinite(ms) || !TIME_RE.test(text)) throw new Syntax(t.pos, `"${text}" is not a valid ISO 8601 date or time`);
    return new Date(ms).toISOString();
  }
}

/** Where an offset sits in the text, 1-based. */
function lineColumn(src: string, pos: number): { line: number; column: number } {
  const before = src.slice(0, pos);
  const line = before.split('\n').length;
  return { line, column: pos - before.lastIndexOf('\n') };
}

/** Parses the text form; throws PORTRAIT_SEGMENT_CONDITION_SYNTAX with the position and the reason. */
export function parseCondition(src: string, where = 'condition'): Condition {
  try {
    return new Parser(tokenize(src)).parseAll();
  } catch (e) {
    if (!(e instanceof Syntax)) throw e;
    const { line, column } = lineColumn(src, e.pos);
    throw Errors.conditionSyntax(where, e.pos, line, column, e.reason);
  }
}
