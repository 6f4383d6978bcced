/**
 * Bytes a thread's waiting readers may fetch ahead. compute-kpi has several periods in flight per
 * thread so that their reads overlap one period's folding, but a period waiting for its turn
 * used to fetch its whole day at once: three periods' days per thread, which at 20M rows (a day's
 * parts ~3 MB) was most of the stage's growth in memory from 1M rows. The folding period fetches
 * as it needs; the waiting ones share this budget, in the order they asked, so how far a thread
 * reads ahead is bounded in bytes, however large a day's parts.
 */

/** Gives back what an admission took from the budget. */
export type Release = () => void;

/** A fetch of `bytes` admitted: now when its period has the turn, else when the budget allows. */
export type Admit = (bytes: number) => Promise<Release>;

interface Waiting {
  bytes: number;
  grant: () => void;
}

export class PrefetchBudget {
  private used = 0;
  private readonly waiting: Waiting[] = [];

  /** `bytes`: what waiting readers may hold at once (one fetch is let through however large). */
  constructor(readonly bytes: number) {}

  /** Bytes admitted and not yet released. */
  get inUse(): number {
    return this.used;
  }

  /**
   * The admissions of one reader whose period folds once `turn` resolves: from then on, its
   * fetches are let through at once (and still counted, so waiting readers stay within the
   * budget); before, they wait for room.
   */
  admitter(turn: Promise<void>): Admit {
    let hasTurn = false;
    const mine = new Set<Waiting>();
    void turn.then(
      () => {
        hasTurn = true;
        for (const entry of mine) this.grantOutOfTurn(entry);
        mine.clear();
      },
      () => undefined,
    );
    return (bytes) =>
      new Promise<Release>((resolve) => {
        const entry: Waiting = {
          bytes,
          grant: () => {
            mine.delete(entry);
            this.used += bytes;
            resolve(this.releaser(bytes));
          },
        };
        if (hasTurn || this.fits(bytes)) return entry.grant();
        mine.add(entry);
        this.waiting.push(entry);
      });
  }

  private fits(bytes: number): boolean {
    return this.waiting.length === 0 && this.hasRoomFor(bytes);
  }

  /** Room for a fetch of `bytes`: within the budget, or the only one when nothing is in use. */
  private hasRoomFor(bytes: number): boolean {
    return this.used === 0 || this.used + bytes <= this.bytes;
  }

  private grantOutOfTurn(entry: Waiting): void {
    const at = this.waiting.indexOf(entry);
    if (at < 0) return;
    this.waiting.splice(at, 1);
    entry.grant();
  }

  private releaser(bytes: number): Release {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.used -= bytes;
      while (this.waiting.length > 0) {
        const next = this.waiting[0]!;
        if (!this.hasRoomFor(next.bytes)) break;
        this.waiting.shift();
        next.grant();
      }
    };
  }
}
