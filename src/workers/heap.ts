import type { Stage } from '../contracts/layout.js';

/**
 * Memory settings of the job processes and their worker threads, in one place: the image runs
 * the jobs with the same flags and environment (docker/Dockerfile CMD and ENV, the task
 * definitions' command in terraform/ecs.tf from local.job_node_flags; test/infra keeps them in
 * step), the local runtime starts jobs with them, and the benchmark runs stage cores with them.
 *
 * Why a larger young generation: a stage streams rows through short-lived strings and arrays,
 * and with V8's default 16 MB semi-space a scavenge came every few MB, each copying the batch
 * still being read. 32 MB lets most of a batch die before the next one: upload on one core at 1M
 * rows 3.08 s -> 2.27 s with peak RSS 191 -> 158 MB; compute-kpi unchanged. validate keeps V8's
 * 16 MB: since its valid rows wait on disk rather than in open row groups (SpilledPartWriter),
 * the larger young generation bought it ~3% of time for ~110 MB on two threads (5M rows: 474-497
 * -> 368-383 MB); 8 MB cost 15%. compute-kpi takes 4 MB: since it folds a day a page (8,192
 * rows) at a time, little of a young generation survives a scavenge, and a large one was only resident
 * memory (64 MB a worker thread): at 5M rows on two cores 2.4 -> 2.0 s and 219 -> 147 MB, at 20M
 * 310 -> 260 MB (8 MB: 2.2 s, 178 MB; 16 MB: 2.2 s, 204 MB).
 */
export const SEMI_SPACE_MB: Readonly<Record<Stage, number>> = {
  upload: 32,
  validate: 16,
  'compute-kpi': 4,
};

/**
 * How far V8 lets the old generation grow past what survived the last full collection, in
 * percent: V8's own factor (up to 4x) suits a browser tab, but the stages keep a few MB of live
 * objects per thread while promoting a steady stream of rows that die soon after, so their old
 * generation filled with garbage up to 100-180 MB per worker before a full collection ran. 20%
 * collects it sooner: validate at 5M rows 869 -> 725-760 MB, upload at 20M 363 -> 345 MB,
 * neither slower; compute-kpi at 20M 228-231 -> 187-195 MB, 5M unchanged (~150 MB), within its
 * runs' spread in time. (compute-kpi went without it while it held a day's rows: collecting those
 * that often cost it 10-30% at 20M.) V8 takes this flag on the command line only, not in
 * NODE_OPTIONS.
 */
export const HEAP_GROWING_PERCENT = 20;

/** Node flags for a stage's job process (`node <flags> dist/jobs/<stage>.js`). */
export function jobNodeFlags(stage: Stage): string[] {
  return [
    `--max-semi-space-size=${SEMI_SPACE_MB[stage]}`,
    `--heap-growing-percent=${HEAP_GROWING_PERCENT}`,
  ];
}

/**
 * Environment of a job process. glibc serves an allocation over its mmap threshold with a mapping
 * of its own, returned to the system when freed, but raises the threshold to the size of every
 * such block freed (up to 32 MB): after that, the stages' page and part buffers (ArrayBuffers of
 * 0.1-16 MB) came from the threads' malloc arenas and stayed resident after being freed. A fixed
 * threshold keeps them mapped and unmapped: validate at 5M rows 725-760 -> 666-679 MB, no change
 * in time (with the flag above, validate at 20M 1,058-1,071 -> 841 MB); upload and compute-kpi
 * within their runs' spread. musl and other allocators ignore the variable.
 */
export const JOB_PROCESS_ENV: Readonly<Record<string, string>> = {
  MALLOC_MMAP_THRESHOLD_: String(128 * 1024),
};

/**
 * Worker threads' limits, after this process's own semi-space flag (its stage's; 32 MB when it
 * has none, as in tests): V8's young generation is three semi-spaces (two plus large objects).
 */
export function workerResourceLimits(execArgv: readonly string[] = process.execArgv): {
  maxYoungGenerationSizeMb: number;
} {
  const flag = execArgv
    .map((arg) => /^--max-semi-space-size=(\d+)$/.exec(arg)?.[1])
    .findLast((value) => value !== undefined);
  return { maxYoungGenerationSizeMb: 3 * (flag === undefined ? 32 : Number(flag)) };
}
