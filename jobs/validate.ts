/** Entry point of the validate job (one container image; the task's command picks the stage). */
import { runJob } from '../src/stages/job.js';

process.exitCode = await runJob('validate');
