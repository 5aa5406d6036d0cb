/**
 * Buckets for answers that normally take well under a millisecond, with a tail
 * up to seconds for batches and stalls. Kept sorted (the original's were not).
 */
export const LATENCY_BUCKETS_SECONDS = [
  0.00005, 0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
];
