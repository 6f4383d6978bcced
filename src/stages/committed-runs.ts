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

  /**
   * `seenCommitted`: runs already known to be committed, shared by the readers of one stage run
   * (compute-kpi: every period a thread computes). A committed run stays committed, so the
   * question is asked of the store once per thread instead of once per period (a validate report
   * of a large batch is ~150 KB); a run not committed yet is asked again by the next reader.
   */
  constructor(
    private readonly store: ObjectStore,
    private readonly seenCommitted = new Set<string>(),
  ) {}

  /** true when runs/<runId>/validate.json says SUCCEEDED. */
  isCommitted(runId: string): Promise<boolean> {
    if (this.seenCommitted.has(runId)) return Promise.resolve(true);
    let answer = this.known.get(runId);
    if (!answer) {
      answer = getJson<StageReport>(this.store, layout.stageReport(runId, 'validate')).then(
        (report) => {
          const committed = report.status === 'SUCCEEDED';
          if (committed) this.seenCommitted.add(runId);
          return committed;
        },
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
