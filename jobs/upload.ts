/** Entry point of the upload job (one container image; the task's command picks the stage). */
import { runJob } from '../src/stages/job.js';

process.exitCode = await runJob('upload');
