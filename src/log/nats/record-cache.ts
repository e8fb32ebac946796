/**
 * The raw payloads of records this process read lately from its partitions,
 * by stream position, within a byte budget (the oldest go first). A worker
 * holding several partitions reads the events one of them forwarded to
 * another from here instead of asking JetStream again. Payloads, not parsed
 * records: each read parses its own copy, so no reader sees another's changes.
 */
export class RecordCache {
  private readonly texts = new Map<number, string>();
  private size = 0;

  constructor(
    /** Budget, counted in UTF-16 code units of the payloads (about bytes for JSON of mostly ASCII). */
    readonly maxChars: number,
  ) {}

  put(position: number, text: string): void {
    if (text.length > this.maxChars || this.texts.has(position)) return;
    this.texts.set(position, text);
    this.size += text.length;
    for (const [p, t] of this.texts) {
      if (this.size <= this.maxChars) break;
      this.texts.delete(p);
      this.size -= t.length;
    }
  }

  get(position: number): string | undefined {
    return this.texts.get(position);
  }

  /** Forgets a record the log no longer holds (deleted by retention). */
  delete(position: number): void {
    const t = this.texts.get(position);
    if (t === undefined) return;
    this.texts.delete(position);
    this.size -= t.length;
  }

  /** Payloads held, and their total size. */
  stats(): { records: number; chars: number } {
    return { records: this.texts.size, chars: this.size };
  }
}
