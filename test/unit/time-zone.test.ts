import { isValidTimeZone } from '../../src/exports/formats/csv';

describe('isValidTimeZone', () => {
  test('IANA names and offsets are zones; made-up names and absurd strings are not', () => {
    expect(isValidTimeZone('Europe/Paris')).toBe(true);
    expect(isValidTimeZone('UTC')).toBe(true);
    expect(isValidTimeZone('Mars/Olympus')).toBe(false);
    expect(isValidTimeZone('x'.repeat(100_000))).toBe(false);
  });

  test('answers again from memory: asking 200 known zones costs a small part of building their formats', () => {
    const zones = Intl.supportedValuesOf('timeZone').slice(0, 200);
    for (const z of zones) expect(isValidTimeZone(z)).toBe(true);
    let t = performance.now();
    for (const z of zones) new Intl.DateTimeFormat('en-US', { timeZone: z });
    const building = performance.now() - t;
    t = performance.now();
    let valid = 0;
    for (const z of zones) if (isValidTimeZone(z)) valid++;
    const remembered = performance.now() - t;
    expect(valid).toBe(200);
    expect(remembered).toBeLessThan(building / 5);
  });

  test('thousands of distinct made-up names keep getting the right answer (the memory is bounded, not a blocklist)', () => {
    for (let i = 0; i < 2000; i++) expect(isValidTimeZone(`Nowhere/Place${i}`)).toBe(false);
    expect(isValidTimeZone('Europe/Paris')).toBe(true);
    expect(isValidTimeZone('Asia/Tokyo')).toBe(true);
  });
});
