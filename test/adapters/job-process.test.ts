import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { runJobProcess } from '../../src/adapters/local/job-process.js';
import { STAGES, type Stage } from '../../src/contracts/layout.js';
import { JOB_PROCESS_ENV, jobNodeFlags } from '../../src/workers/heap.js';

/** What the kernel says a process was started with: its argv and environment. */
function started(pid: number): { argv: string[]; env: Record<string, string> } {
  const fields = (file: string) =>
    readFileSync(`/proc/${pid}/${file}`, 'utf8').split('\0').filter(Boolean);
  return {
    argv: fields('cmdline'),
    env: Object.fromEntries(
      fields('environ').map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]),
    ),
  };
}

describe('a local job process', () => {
  it.each(STAGES.map((s) => [s]))(
    '%s starts with its stage’s node flags and the jobs’ environment, as the image does',
    async (stage: Stage) => {
      let seen: ReturnType<typeof started> | undefined;
      // No configuration: the job stops at once with a configuration error (exit 1), after node
      // accepted its flags (a refused flag exits 9).
      const exit = await runJobProcess(stage, {
        env: {},
        // Read at once: node takes far longer to start than this takes (a miss fails below).
        onSpawn: (pid) => {
          try {
            seen = started(pid);
          } catch {
            seen = undefined;
          }
        },
      });
      expect(exit.exitCode).toBe(1);
      expect(exit.stderrTail.join('\n')).toMatch(/invalid configuration/);
      expect(seen).toBeDefined();
      expect(seen!.argv.slice(1, -1)).toEqual(jobNodeFlags(stage));
      expect(seen!.argv.at(-1)).toMatch(new RegExp(`dist/jobs/${stage}\\.js$`));
      expect(seen!.env).toMatchObject(JOB_PROCESS_ENV);
    },
  );
});
