/**
 * Preloaded into the pipeline's job processes (NODE_OPTIONS=--import): on exit, writes the
 * process's peak RSS and CPU time to $BENCH_RSS_FILE. The job code itself is untouched.
 */
import { writeFileSync } from 'node:fs';

const target = process.env.BENCH_RSS_FILE;
if (target) {
  process.once('exit', () => {
    const usage = process.resourceUsage();
    writeFileSync(
      target,
      JSON.stringify({
        maxRssKb: usage.maxRSS,
        userCpuMs: usage.userCPUTime / 1000,
        systemCpuMs: usage.systemCPUTime / 1000,
      }),
    );
  });
}
