/** `cartpipe`: the command-line entry. Dispatches to a command and maps errors to exit codes. */
import { loadDotenv } from '../config.js';
import { describeError, isCartpipeError } from '../errors.js';
import { kpisCommand, runCommand, UsageError, type Print } from './commands.js';
import { statusCommand, submitCommand, upCommand } from './orchestration-commands.js';
import { historyCommand, invoiceCommand } from './profile-commands.js';

const USAGE = `cartpipe: event-driven e-commerce ETL (local runtime by default)

Usage:
  cartpipe run --dataset D [--batch NAME] PATH...   load files/folders as one batch and wait for the run
  cartpipe up                                        serve the local S3/DynamoDB and the orchestrator
                                                     in the foreground: any S3 client can start runs
  cartpipe submit --dataset D [--batch NAME] PATH... put files, then the manifest, into the bucket of
                  [--bucket B [--region R]]          \`cartpipe up\`, or of AWS with --bucket
  cartpipe status [RUN_ID] [--batch B] [--json]      recent runs, or one run's stages and reports
  cartpipe kpis --dataset D [--kpi K] [--format table|csv|json]
                                                     print the stored KPI rows
  cartpipe history --customer ID [--format table|json]
                                                     a customer's invoices (online-retail)
  cartpipe invoice NO [--format table|json]          an invoice with every line (online-retail)

Environment: see .env.example (CARTPIPE_DATA_DIR, default .cartpipe/, holds the local state).`;

const COMMANDS: Record<string, (argv: string[], print: Print) => Promise<number>> = {
  run: runCommand,
  up: upCommand,
  submit: submitCommand,
  status: statusCommand,
  kpis: kpisCommand,
  history: historyCommand,
  invoice: invoiceCommand,
};

export async function main(
  argv: string[],
  print: Print = (t) => process.stdout.write(`${t}\n`),
): Promise<number> {
  await loadDotenv();
  const [name, ...rest] = argv;
  if (!name || name === 'help' || name === '--help' || name === '-h') {
    print(USAGE);
    return name ? 0 : 2;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`cartpipe: unknown command ${JSON.stringify(name)}\n\n${USAGE}\n`);
    return 2;
  }
  try {
    return await command(rest, print);
  } catch (error) {
    const usage =
      error instanceof UsageError ||
      (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
    process.stderr.write(
      `cartpipe ${name}: ${isCartpipeError(error) ? `${error.code}: ` : ''}${describeError(error)}\n`,
    );
    return usage ? 2 : 1;
  }
}
