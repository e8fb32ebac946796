/** Prints a condition's JSON form as text that parses back to the same JSON. */
import type { Condition, Literal } from './ast.ts';

const CMP_TEXT = { eq: '=', neq: '!=', gt: '>', gte: '>=', lt: '<', lte: '<=' } as const;

function literal(v: Literal): string {
  // JSON.stringify prints every finite number in a form the parser reads back to the same value.
  return JSON.stringify(v);
}

function child(c: Condition): string {
  return c.op === 'and' || c.op === 'or' ? `(${printCondition(c)})` : printCondition(c);
}

export function printCondition(c: Condition): string {
  switch (c.op) {
    case 'and':
    case 'or':
      return c.args.map(child).join(` ${c.op} `);
    case 'not':
      return `not ${child(c.arg)}`;
    case 'eq':
    case 'neq':
    case 'gt':
    case 'gte':
    case 'lt':
    case 'lte':
      return `${c.ref} ${CMP_TEXT[c.op]} ${literal(c.value)}`;
    case 'in':
      return `${c.ref} in (${c.values.map(literal).join(', ')})`;
    case 'not_in':
      return `${c.ref} not in (${c.values.map(literal).join(', ')})`;
    case 'contains':
      return `${c.ref} contains ${literal(c.value)}`;
    case 'exists':
      return `exists ${c.ref}`;
    case 'within':
      return `${c.ref} within ${c.duration}`;
    case 'older_than':
      return `${c.ref} older than ${c.duration}`;
    case 'before':
    case 'after':
      return `${c.ref} ${c.op} ${c.time}`;
    case 'in_segment':
      return `in_segment(${JSON.stringify(c.segment)})`;
    case 'has_tag':
      return `has_tag(${JSON.stringify(c.tag)})`;
    default: {
      const never: never = c;
      throw new Error(`unknown condition ${JSON.stringify(never)}`);
    }
  }
}
