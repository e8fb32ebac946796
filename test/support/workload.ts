/** Tests and the benchmark use the demo's generator of realistic traffic. */
export { rng, workload, TEN_TRAITS, type WorkloadOptions } from '../../src/demo/workload.ts';
