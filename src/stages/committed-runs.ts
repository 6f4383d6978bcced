/**
 * A run's validated/ and held/ parts count only once its validate stage has reported success.
 * Parts are uploaded one by one, so a validate killed half-way leaves some parts behind: readers
 * that skip uncommitted runs never see half a batch, and the retry rewrites the same keys.
 */
import { layout } from '../contracts/layout.js';
import type { StageReport } from '../contracts/report.js';
import { NotFoundError } from '../errors.js';
import { getJson, type ObjectStore } from '../ports/object-store.js';

export class CommittedRuns {
  private readonly known = new Map<string, Promise<boolean>>();

  constructor(private readonly store: ObjectStore) {}

  /** true when runs/<runId>/validate.json says SUCCEEDED. */
  isCommitted(runId: string): Promise<boolean> {
    let answer = this.known.get(runId);
    if (!answer) {
      answer = getJson<StageReport>(this.store, layout.stageReport(runId, 'validate')).then(
        (report) => report.status === 'SUCCEEDED',
        (error: unknown) => {
          if (error instanceof NotFoundError) return false;
          throw error;
        },
      );
      this.known.set(runId, answer);
    }
    return answer;
  }
}
