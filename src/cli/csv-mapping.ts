/**
 * CSV support for `portrait import`: a small RFC 4180 record parser and the
 * column → message-path mapping (`--map column=path`).
 *
 * The importer reads the file line by line; a quoted field may span lines, so
 * the caller joins physical lines until `isCompleteRecord` says the quotes are
 * balanced, then calls `parseCsvRecord` on the joined text.
 */

export type CsvResult = { ok: true; fields: string[] } | { ok: false; reason: string };

/**
 * True when the text holds no open quoted field. Escaped quotes (`""`) and
 * the quotes around a field both come in pairs, so an odd count means a quoted
 * field continues on the next line.
 */
export function isCompleteRecord(text: string): boolean {
  let quotes = 0;
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 34) quotes++;
  return quotes % 2 === 0;
}

/**
 * Parses one CSV record (line breaks allowed only inside quoted fields):
 * comma-separated fields, a field in double quotes may hold commas, quotes
 * (written `""`) and line breaks. A quote inside an unquoted field, text after a
 * closing quote or an unterminated quoted field is an error.
 */
export function parseCsvRecord(text: string): CsvResult {
  const fields: string[] = [];
  let i = 0;
  const n = text.length;
  for (;;) {
    if (i < n && text[i] === '"') {
      // Quoted field.
      let value = '';
      i++;
      for (;;) {
        const q = text.indexOf('"', i);
        if (q === -1) return { ok: false, reason: `unterminated quoted field in column ${fields.length + 1}` };
        value += text.slice(i, q);
        if (text[q + 1] === '"') {
          value += '"';
          i = q + 2;
          continue;
        }
        i = q + 1;
        break;
      }
      fields.push(value);
      if (i === n) return { ok: true, fields };
      if (text[i] !== ',') return { ok: false, reason: `unexpected character after the closing quote of column ${fields.length}` };
      i++;
    } else {
      let end = text.indexOf(',', i);
      if (end === -1) end = n;
      const value = text.slice(i, end);
      if (value.includes('"')) return { ok: false, reason: `quote inside the unquoted field of column ${fields.length + 1}` };
      if (/[\r\n]/.test(value)) return { ok: false, reason: `line break outside quotes in column ${fields.length + 1}` };
      fields.push(value);
      if (end === n) return { ok: true, fields };
      i = end + 1;
    }
  }
}

export interface ColumnMapping {
  column: string;
  /** Dotted path in the message, e.g. `properties.price`. */
  path: string[];
}

const FORBIDDEN = new Set(['__proto__', 'prototype', 'constructor']);

/**
 * Parses repeated `--map column=path` options. With none, every header column
 * maps to the message field of the same name. Throws an Error with a message
 * for a malformed option or a column the header does not have.
 */
export function parseMappings(specs: readonly string[], header: readonly string[]): ColumnMapping[] {
  if (specs.length === 0) return header.map((column) => ({ column, path: splitPath(column, column) }));
  return specs.map((spec) => {
    const eq = spec.indexOf('=');
    if (eq <= 0 || eq === spec.length - 1) throw new Error(`--map "${spec}" must look like column=path, e.g. price=properties.price`);
    const column = spec.slice(0, eq).trim();
    const path = splitPath(spec.slice(eq + 1).trim(), spec);
    if (!header.includes(column)) throw new Error(`--map "${spec}": the CSV header has no column "${column}" (columns: ${header.join(', ')})`);
    return { column, path };
  });
}

function splitPath(path: string, spec: string): string[] {
  const parts = path.split('.');
  if (parts.some((p) => p === '' || FORBIDDEN.has(p))) throw new Error(`--map "${spec}": "${path}" is not a valid dotted path`);
  return parts;
}

const NUMERIC = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;

/**
 * Builds a Segment message from a CSV row. Empty cells are left out. Under
 * `properties` and `traits`, numeric-looking values become numbers. `type`
 * comes from a mapped column or, failing that, `defaultType`.
 */
export function rowToMessage(header: readonly string[], fields: readonly string[], mappings: readonly ColumnMapping[], defaultType: string): Record<string, unknown> {
  const message: Record<string, unknown> = {};
  for (const m of mappings) {
    const raw = fields[header.indexOf(m.column)];
    if (raw === undefined || raw === '') continue;
    const top = m.path[0];
    const value: unknown = (top === 'properties' || top === 'traits') && m.path.length > 1 && NUMERIC.test(raw) ? Number(raw) : raw;
    let target = message;
    for (let k = 0; k < m.path.length - 1; k++) {
      const key = m.path[k]!;
      const next = target[key];
      if (typeof next === 'object' && next !== null && !Array.isArray(next)) target = next as Record<string, unknown>;
      else target = target[key] = {};
    }
    target[m.path[m.path.length - 1]!] = value;
  }
  if (message.type === undefined) message.type = defaultType;
  return message;
}
