/**
 * Remembering what a function of a text gave: for values read from a few
 * definitions' texts again at every evaluation (durations, times). At most
 * `bound` texts are kept; past that the memory starts over.
 */
export function memoByText<T>(f: (text: string) => T, bound = 1000): (text: string) => T {
  const seen = new Map<string, T>();
  return (text) => {
    if (seen.has(text)) return seen.get(text) as T;
    const v = f(text);
    if (seen.size >= bound) seen.clear();
    seen.set(text, v);
    return v;
  };
}
