/**
 * Memory settings of the job processes and their worker threads, in one place: the image runs
 * the jobs with the same flags and environment (docker/Dockerfile CMD and ENV, the task
 * definitions' command in terraform/ecs.tf; test/infra keeps them in step), the local runtime
 * starts jobs with them, and the benchmark runs stage cores with them.
 *
 * Why a larger young generation: a stage streams rows through short-lived strings and arrays,
 * and with V8's default 16 MB semi-space a scavenge came every few MB, each copying the batch
 * still being read. 32 MB lets most of a batch die before the next one: upload on one core at 1M
 * rows 3.08 s -> 2.27 s with peak RSS 191 -> 158 MB; validate and compute-kpi unchanged.
 */
export const SEMI_SPACE_MB = 32;

/**
 * How far V8 lets the old generation grow past what survived the last full collection, in
 * percent. V8's own factor (up to 4x) suits a browser tab; a stage keeps ~12 MB of live objects
 * per thread while promoting a steady stream of rows that die soon after, so its old generation
 * filled with garbage up to 100-180 MB per worker before a full collection ran. 20% collects it
 * sooner: validate at 5M rows 869 -> 725-760 MB with no measurable change in time (a full
 * collection of a small live set is cheap); upload and compute-kpi unchanged. Not allowed in
 * NODE_OPTIONS, so it goes on the command line.
 */
export const HEAP_GROWING_PERCENT = 20;

/** Node flags for a job process (`node <flags> dist/jobs/<stage>.js`). */
export const JOB_NODE_FLAGS: readonly string[] = [
  `--max-semi-space-size=${SEMI_SPACE_MB}`,
  `--heap-growing-percent=${HEAP_GROWING_PERCENT}`,
];

/**
 * Environment of a job process. glibc serves an allocation over its mmap threshold with a mapping
 * of its own, returned to the system when freed, but raises the threshold to the size of every
 * such block freed (up to 32 MB): after that, the stages' page and part buffers (ArrayBuffers of
 * 0.1-16 MB) came from the threads' malloc arenas and stayed resident after being freed. A fixed
 * threshold keeps them mapped and unmapped: validate at 5M rows 725-760 -> 666-679 MB, no change
 * in time (with the flag above, validate at 20M 1,058-1,071 -> 841 MB). musl and other
 * allocators ignore the variable.
 */
export const JOB_PROCESS_ENV: Readonly<Record<string, string>> = {
  MALLOC_MMAP_THRESHOLD_: String(128 * 1024),
};

/** Worker threads' limits: V8's young generation is three semi-spaces (two plus large objects). */
export const WORKER_RESOURCE_LIMITS = { maxYoungGenerationSizeMb: 3 * SEMI_SPACE_MB } as const;
