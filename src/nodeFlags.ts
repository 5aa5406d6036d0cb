/**
 * The V8 heap settings the service is started with (Dockerfile, `npm start`,
 * the benchmark and the tests), because its memory bounds are sized for them.
 * V8 reads them only at start-up, so they are command-line flags, not code.
 *
 * Node 24's V8 lets the young generation grow to 3 × 64 MiB and the old one
 * to 4 × what survived the last full collection before collecting again. A
 * scoring call makes megabytes of short-lived objects (a 10,000-transaction
 * batch: its decoded request, its answer, their encoding), so under load the
 * heap held 150 MiB of garbage: peak RSS 250–360 MB under the benchmark's loads
 * (10,000-transaction batches at c=16; clients that never read) with 18 MiB
 * alive. With a 16 MiB semi-space and 1.5 × growth it stays near 180–230 MB,
 * for about 20 % of the throughput of large batches.
 */
export const SERVICE_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=16', '--heap-growing-percent=50'];

/** The flags of SERVICE_NODE_FLAGS that this process was not started with. */
export function missingNodeFlags(execArgv: readonly string[] = process.execArgv): string[] {
  return SERVICE_NODE_FLAGS.filter((flag) => !execArgv.includes(flag));
}
