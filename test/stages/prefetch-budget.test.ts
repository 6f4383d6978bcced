import { describe, expect, it } from '@jest/globals';
import { PrefetchBudget, type Release } from '../../src/stages/prefetch-budget.js';

/** Whether `promise` has settled once everything already queued has run. */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  void promise.then(() => (done = true));
  await new Promise((resolve) => setImmediate(resolve));
  return done;
}

/** A turn that arrives when `give` is called. */
function pendingTurn(): { turn: Promise<void>; give: () => void } {
  let give!: () => void;
  const turn = new Promise<void>((resolve) => (give = resolve));
  return { turn, give };
}

describe('PrefetchBudget (what periods waiting for their turn may fetch ahead)', () => {
  it('lets waiting readers fetch while the bytes fit, then in the order they asked as bytes come back', async () => {
    const budget = new PrefetchBudget(100);
    const a = budget.admitter(pendingTurn().turn);
    const b = budget.admitter(pendingTurn().turn);
    const first = await a(60);
    const second = a(50); // 110 > 100: waits
    const third = b(10); // would fit, but asked after `second`: waits its turn in line
    expect(await settled(second)).toBe(false);
    expect(await settled(third)).toBe(false);
    expect(budget.inUse).toBe(60);
    first();
    expect(await settled(second)).toBe(true);
    expect(await settled(third)).toBe(true);
    expect(budget.inUse).toBe(60);
  });

  it('lets one fetch larger than the whole budget through when nothing else is held', async () => {
    const budget = new PrefetchBudget(100);
    const admit = budget.admitter(pendingTurn().turn);
    const big = await admit(500);
    expect(budget.inUse).toBe(500);
    const next = admit(1);
    expect(await settled(next)).toBe(false);
    big();
    expect(await settled(next)).toBe(true);
  });

  it("admits a reader's fetches at once from its turn on, also those already waiting", async () => {
    const budget = new PrefetchBudget(100);
    const other = budget.admitter(pendingTurn().turn);
    const held = await other(100);
    const { turn, give } = pendingTurn();
    const folding = budget.admitter(turn);
    const waiting = folding(40);
    expect(await settled(waiting)).toBe(false);
    give();
    expect(await settled(waiting)).toBe(true);
    // Counted all the same: the waiting readers stay within the budget.
    expect(budget.inUse).toBe(140);
    expect(await settled(folding(1_000))).toBe(true);
    expect(await settled(other(1))).toBe(false);
    held();
    expect(budget.inUse).toBe(1_040);
  });

  it('takes a release once however often it is called', async () => {
    const budget = new PrefetchBudget(100);
    const admit = budget.admitter(pendingTurn().turn);
    const releases: Release[] = [await admit(30), await admit(30)];
    releases[0]!();
    releases[0]!();
    expect(budget.inUse).toBe(30);
    releases[1]!();
    expect(budget.inUse).toBe(0);
  });
});
