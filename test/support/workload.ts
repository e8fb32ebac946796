/** Tests and the benchmark use the demo's generator of realistic traffic. */
export { rng, workload, TEN_TRAITS, type WorkloadOptions } from '../../src/demo/workload.ts';

/** Segments over the ten traits, activity (which time alone changes) and each other. */
export const SEGMENTS_OVER_TRAITS = [
  { name: 'active_7d', condition: 'last_seen within 7 days' },
  { name: 'buyers', condition: 'traits.orders >= 1' },
  { name: 'big_spenders', condition: 'traits.revenue > 200' },
  { name: 'vip', condition: 'in_segment("buyers") and in_segment("big_spenders")' },
  { name: 'at_risk', condition: 'in_segment("buyers") and not in_segment("active_7d")' },
] as const;
