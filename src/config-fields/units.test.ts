import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatDuration, parseDuration, parseSize } from './units.js';

describe('parseDuration', () => {
  const valid: Array<[string, number]> = [
    ['500ms', 500],
    ['0ms', 0],
    ['2s', 2_000],
    ['1.5s', 1_500],
    ['5m', 300_000],
    ['24h', 86_400_000],
    ['30d', 2_592_000_000],
    ['0.5m', 30_000],
    ['  10s  ', 10_000],
  ];
  for (const [text, ms] of valid) {
    test(`"${text}" is ${ms} ms`, () => assert.equal(parseDuration(text), ms));
  }

  test('rounds fractional milliseconds to the nearest integer', () => {
    assert.equal(parseDuration('1.4ms'), 1);
    assert.equal(parseDuration('1.6ms'), 2);
    assert.equal(parseDuration('0.0015s'), 2);
  });

  const invalid = ['', '5', '10 s', 's', '-1s', '+1s', '1e3ms', '1.s', '.5s', '5S', '5sec', '5w', '5 m', 'ms5', '1h30m', 'Infinitys'];
  for (const text of invalid) {
    test(`"${text}" is not a duration`, () => assert.equal(parseDuration(text), undefined));
  }
});

describe('formatDuration', () => {
  const cases: Array<[number, string]> = [
    [0, '0ms'],
    [1, '1ms'],
    [999, '999ms'],
    [1_000, '1s'],
    [1_500, '1500ms'],
    [90_000, '90s'],
    [60_000, '1m'],
    [3_600_000, '1h'],
    [90 * 60_000, '90m'],
    [25 * 3_600_000, '25h'],
    [86_400_000, '1d'],
    [30 * 86_400_000, '30d'],
  ];
  for (const [ms, text] of cases) {
    test(`${ms} ms is "${text}" (largest unit that divides it)`, () => assert.equal(formatDuration(ms), text));
  }

  test('its output parses back to the same number of milliseconds', () => {
    for (const ms of [0, 1, 7, 999, 1_000, 1_001, 59_000, 60_000, 61_000, 3_600_000, 86_400_000, 172_800_000, 123_456_789]) {
      assert.equal(parseDuration(formatDuration(ms)), ms, `round trip of ${ms}`);
    }
  });
});

describe('parseSize', () => {
  const valid: Array<[string, number]> = [
    ['0b', 0],
    ['1b', 1],
    ['512kb', 512 * 1024],
    ['10mb', 10 * 1024 * 1024],
    ['2gb', 2 * 1024 ** 3],
    ['1.5kb', 1536],
    ['10MB', 10 * 1024 * 1024],
    ['10 mb', 10 * 1024 * 1024],
    ['  1Kb ', 1024],
  ];
  for (const [text, bytes] of valid) {
    test(`"${text}" is ${bytes} bytes`, () => assert.equal(parseSize(text), bytes));
  }

  test('fractional bytes are rounded down', () => {
    assert.equal(parseSize('1.9b'), 1);
    assert.equal(parseSize('0.001kb'), 1);
  });

  const invalid = ['', '10', 'mb', '-1kb', '1tb', '1k', '1m', '1 0mb', '1e3kb', 'ten mb'];
  for (const text of invalid) {
    test(`"${text}" is not a size`, () => assert.equal(parseSize(text), undefined));
  }
});
