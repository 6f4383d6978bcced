/**
 * V8 heap settings of the job processes and their worker threads, in one place: the image sets
 * the same flags (docker/Dockerfile NODE_OPTIONS; test/infra keeps the two in step), the local
 * runtime starts jobs with them, and the benchmark runs stage cores with them.
 *
 * Why a larger young generation: a stage streams rows through short-lived strings and arrays,
 * and with V8's default 16 MB semi-space a scavenge came every few MB, each copying the batch
 * still being read. 32 MB lets most of a batch die before the next one: upload on one core at 1M
 * rows 3.08 s -> 2.27 s with peak RSS 191 -> 158 MB; validate and compute-kpi unchanged.
 */
export const SEMI_SPACE_MB = 32;

/** Node flags for a job process (`node <flags> dist/jobs/<stage>.js`). */
export const JOB_NODE_FLAGS: readonly string[] = [`--max-semi-space-size=${SEMI_SPACE_MB}`];

/** Worker threads' limits: V8's young generation is three semi-spaces (two plus large objects). */
export const WORKER_RESOURCE_LIMITS = { maxYoungGenerationSizeMb: 3 * SEMI_SPACE_MB } as const;
