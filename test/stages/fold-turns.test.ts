import { describe, expect, it } from '@jest/globals';
import { FoldTurns } from '../../src/stages/kpi-window.js';

/** Whether `promise` has settled once everything already queued has run. */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  void promise.then(() => (done = true));
  await new Promise((resolve) => setImmediate(resolve));
  return done;
}

describe('FoldTurns (one KPI window folds at a time on a thread)', () => {
  it('gives the turn in the order it was asked for, each after the previous one is done', async () => {
    const turns = new FoldTurns();
    const [first, second, third] = [turns.turn(), turns.turn(), turns.turn()];
    // Asked out of creation order: the asking order is what counts.
    const thirdReady = third.ready();
    const firstReady = first.ready();
    const secondReady = second.ready();
    expect(await settled(thirdReady)).toBe(true);
    expect(await settled(firstReady)).toBe(false);
    third.done();
    expect(await settled(firstReady)).toBe(true);
    expect(await settled(secondReady)).toBe(false);
    first.done();
    expect(await settled(secondReady)).toBe(true);
  });

  it('lets a window that never asks (its reads failed, or it had nothing to fold) hold no one up', async () => {
    const turns = new FoldTurns();
    const silent = turns.turn();
    const asking = turns.turn();
    expect(await settled(asking.ready())).toBe(true);
    silent.done();
    asking.done();
    expect(await settled(turns.turn().ready())).toBe(true);
  });

  it('keeps one turn per window however often the window asks', async () => {
    const turns = new FoldTurns();
    const window = turns.turn();
    const other = turns.turn();
    await window.ready();
    const otherReady = other.ready();
    await window.ready(); // a second read of the same window: no new place in the queue
    expect(await settled(otherReady)).toBe(false);
    window.done();
    expect(await settled(otherReady)).toBe(true);
  });
});
