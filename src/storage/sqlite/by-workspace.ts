/**
 * Keys grouped by workspace, as JSON arrays: the engine looks up a batch's
 * profiles, identities and memberships with one statement per workspace
 * (`… IN (SELECT value FROM json_each(?))`) rather than one per key. Each
 * statement outside a transaction is a read transaction of its own, with its
 * own WAL lock round trip, so per-key statements cost far more than their
 * rows.
 */
export function idsByWorkspace<K extends { workspace: string }>(keys: readonly K[], idOf: (k: K) => string): Array<[workspace: string, idsJson: string]> {
  const groups = new Map<string, string[]>();
  for (const k of keys) {
    const list = groups.get(k.workspace);
    if (list === undefined) groups.set(k.workspace, [idOf(k)]);
    else list.push(idOf(k));
  }
  return [...groups].map(([workspace, ids]) => [workspace, JSON.stringify(ids)]);
}
