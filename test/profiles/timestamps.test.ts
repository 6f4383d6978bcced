import { describe, expect, it } from '@jest/globals';
import { parseIsoTimestamp, parseIsoTimestampByPattern } from '../../src/profiles/time.js';
import { pick, randomInt, seededRandom } from '../helpers/random.js';

/** parseIsoTimestamp reads the common form by hand: it must agree with the pattern everywhere. */
describe('parseIsoTimestamp', () => {
  it('agrees with the regular expression on 40,000 near-miss and valid texts, in two zones', () => {
    const random = seededRandom(11);
    const pad = (n: number, w: number) => String(n).padStart(w, '0');
    const noise = ['', ' ', 'Z', ' UTC', 'UTC', '+02:00', '-0530', '.5', '.123', 'x', ' Z', 'z'];
    for (let i = 0; i < 40_000; i++) {
      let text =
        `${pad(randomInt(random, 0, 2100), 4)}-${pad(randomInt(random, 0, 13), 2)}-` +
        `${pad(randomInt(random, 0, 32), 2)}${pick([' ', 'T', 't', '_'], random)}` +
        `${pad(randomInt(random, 0, 25), 2)}:${pad(randomInt(random, 0, 61), 2)}:` +
        `${pad(randomInt(random, 0, 61), 2)}${pick(noise, random)}`;
      // Now and then a character replaced: a letter in a digit's place, a missing separator.
      if (random() < 0.2) {
        const at = randomInt(random, 0, text.length - 1);
        text =
          text.slice(0, at) + pick(['a', '-', ':', ' ', '9', '٣'], random) + text.slice(at + 1);
      }
      for (const zone of ['UTC', 'America/New_York']) {
        expect([text, zone, parseIsoTimestamp(text, zone)]).toEqual([
          text,
          zone,
          parseIsoTimestampByPattern(text, zone),
        ]);
      }
    }
  });

  it('reads the common forms as the instants they name', () => {
    expect(parseIsoTimestamp('2024-02-29 23:59:59', 'UTC')).toBe(Date.UTC(2024, 1, 29, 23, 59, 59));
    expect(parseIsoTimestamp('2024-03-10T12:00:00 UTC', 'Asia/Tokyo')).toBe(
      Date.UTC(2024, 2, 10, 12),
    );
    expect(parseIsoTimestamp('2024-03-10 12:00:00', 'Asia/Tokyo')).toBe(Date.UTC(2024, 2, 10, 3));
    expect(parseIsoTimestamp('2023-02-29 00:00:00', 'UTC')).toBeUndefined();
    expect(parseIsoTimestamp('2024-01-01 24:00:00Z', 'UTC')).toBeUndefined();
  });
});
