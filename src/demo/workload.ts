/**
 * A deterministic generator of realistic Segment traffic, for the demo, the
 * tests and the benchmark: anonymous browsing that later identifies (merges), aliases,
 * groups, purchases, late (out-of-order) events, duplicates, and a few
 * anonymous ids shared between two users (which the guards must refuse).
 */

export interface WorkloadOptions {
  events: number;
  users: number;
  seed: number;
  /** Share of messages re-sent with the same messageId. */
  duplicateRate?: number;
  /** Share of events whose timestamp lies well before the previous one. */
  lateRate?: number;
  /** Event time of the first event (ms). */
  start?: number;
}

/** Mulberry32: small, fast, seeded. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const CATEGORIES = ['sports', 'books', 'music', 'garden', 'toys', 'beauty', 'food', 'travel'];
const CITIES = ['Beijing', 'Shanghai', 'Shenzhen', 'Berlin', 'Paris', 'Austin', 'Lagos', 'Lima'];
const OCCUPATIONS = ['engineer', 'teacher', 'designer', 'nurse', 'student'];

/** Generates `events` raw messages (plain objects, as a client would send them). */
export function* workload(o: WorkloadOptions): Generator<Record<string, unknown>> {
  const r = rng(o.seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const start = o.start ?? Date.UTC(2026, 9, 1);
  const dupRate = o.duplicateRate ?? 0.02;
  const lateRate = o.lateRate ?? 0.05;
  let t = start;
  let seq = 0;
  const recent: Record<string, unknown>[] = [];
  const identified = new Set<number>();
  for (let n = 0; n < o.events; n++) {
    if (recent.length > 0 && r() < dupRate) {
      yield structuredClone(pick(recent));
      continue;
    }
    t += Math.floor(r() * 4000);
    const time = r() < lateRate ? t - Math.floor(r() * 10 * 86_400_000) : t;
    const u = Math.floor(r() * o.users);
    const anon = `a${u}_${Math.floor(r() * 3)}`;
    const known = identified.has(u);
    const ids: Record<string, unknown> = known && r() < 0.7 ? { userId: `u${u}`, anonymousId: anon } : { anonymousId: anon };
    const base = { messageId: `m${o.seed}_${seq++}`, timestamp: new Date(time).toISOString() };
    const x = r();
    let msg: Record<string, unknown>;
    if (x < 0.08) {
      identified.add(u);
      msg = {
        type: 'identify',
        ...base,
        userId: `u${u}`,
        anonymousId: anon,
        traits: {
          email: `User${u}@Example.com`,
          age: 18 + ((u * 7 + Math.floor(r() * 3)) % 50),
          city: pick(CITIES),
          occupation: pick(OCCUPATIONS),
          income: Math.floor(r() * 200) * 1000,
          gender: u % 2 === 0 ? 'female' : 'male',
        },
      };
    } else if (x < 0.085) {
      // A shared device: this anonymous id also appears under another user (refused merge).
      const v = (u + 1) % o.users;
      identified.add(v);
      msg = { type: 'identify', ...base, userId: `u${v}`, anonymousId: anon, traits: { city: pick(CITIES) } };
    } else if (x < 0.09) {
      identified.add(u);
      msg = { type: 'alias', ...base, userId: `u${u}`, previousId: `legacy${u}` };
    } else if (x < 0.095) {
      msg = { type: 'group', ...base, ...ids, groupId: `org${u % 50}`, traits: { name: `Org ${u % 50}`, plan: pick(['free', 'pro']) } };
    } else if (x < 0.25) {
      msg = { type: 'page', ...base, ...ids, name: pick(['Home', 'Search', 'Product']), properties: { path: `/p/${Math.floor(r() * 100)}` } };
    } else if (x < 0.75) {
      msg = { type: 'track', ...base, ...ids, event: 'Product Viewed', properties: { category: pick(CATEGORIES), price: Math.round(r() * 20000) / 100 } };
    } else if (x < 0.85) {
      msg = { type: 'track', ...base, ...ids, event: 'Product Added', properties: { category: pick(CATEGORIES), price: Math.round(r() * 20000) / 100 } };
    } else {
      msg = {
        type: 'track',
        ...base,
        ...ids,
        event: 'Order Completed',
        properties: { orderId: `o${seq}`, category: pick(CATEGORIES), price: Math.round(r() * 50000) / 100 },
      };
    }
    if (recent.length < 1000) recent.push(msg);
    else recent[Math.floor(r() * 1000)] = msg;
    yield msg;
  }
}

/** Ten computed traits of mixed kinds: what tests and the benchmark run. */
export const TEN_TRAITS = [
  { name: 'orders', kind: 'count', filter: { type: 'track', event: 'Order Completed' } },
  { name: 'revenue', kind: 'sum', filter: { event: 'Order Completed' }, value: 'properties.price' },
  { name: 'largest_order', kind: 'max', filter: { event: 'Order Completed' }, value: 'properties.price' },
  { name: 'avg_order', kind: 'avg', filter: { event: 'Order Completed' }, value: 'properties.price' },
  { name: 'first_category', kind: 'first', filter: { event: ['Product Viewed', 'Order Completed'] }, value: 'properties.category' },
  { name: 'categories_seen', kind: 'distinct', filter: { event: 'Product Viewed' }, value: 'properties.category' },
  { name: 'top_categories', kind: 'top', filter: { event: 'Product Viewed' }, key: 'properties.category', k: 3 },
  { name: 'views_7d', kind: 'window_count', filter: { event: 'Product Viewed' }, window: '7d' },
  { name: 'interest', kind: 'decayed', filter: { event: ['Product Viewed', 'Product Added', 'Order Completed'] }, key: 'properties.category', halfLife: '7d', weights: { 'Product Viewed': 1, 'Product Added': 3, 'Order Completed': 10 } },
  { name: 'rfm', kind: 'rfm', filter: { event: 'Order Completed' }, value: 'properties.price' },
] as const;
