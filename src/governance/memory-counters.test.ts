import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MemoryCounterStore } from './memory-counters.js';
import { manualClock } from './test-support.js';

describe('MemoryCounterStore', () => {
  test('tryAdd admits up to the limit in a window and resets at the window boundary', async () => {
    const clock = manualClock(120_000 + 5_000); // 5 s into a minute
    const c = new MemoryCounterStore({ now: clock.now });
    for (let i = 1; i <= 3; i++) assert.deepEqual(await c.tryAdd('k', 1, 3, 60_000), { admitted: true, total: i, resetAt: 180_000 });
    assert.deepEqual(await c.tryAdd('k', 1, 3, 60_000), { admitted: false, total: 3, resetAt: 180_000 });
    clock.set(180_000);
    assert.deepEqual(await c.tryAdd('k', 1, 3, 60_000), { admitted: true, total: 1, resetAt: 240_000 });
  });

  test('100 concurrent tryAdd calls with limit 20 admit exactly 20', async () => {
    const c = new MemoryCounterStore({ now: () => 1_000 });
    const results = await Promise.all(Array.from({ length: 100 }, () => c.tryAdd('rpm', 1, 20, 60_000)));
    assert.equal(results.filter((r) => r.admitted).length, 20);
  });

  test('an amount larger than what is left is refused whole; add corrects and never goes below zero', async () => {
    const c = new MemoryCounterStore({ now: () => 0 });
    assert.equal((await c.tryAdd('t', 80, 100, 60_000)).admitted, true);
    assert.equal((await c.tryAdd('t', 30, 100, 60_000)).admitted, false);
    assert.equal((await c.add('t', -50, 60_000)).total, 30);
    assert.equal((await c.tryAdd('t', 30, 100, 60_000)).total, 60);
    assert.equal((await c.add('t', -500, 60_000)).total, 0);
  });

  test('acquire holds at most limit slots; release frees one; unreleased slots lapse after the TTL', async () => {
    const clock = manualClock(0);
    const c = new MemoryCounterStore({ now: clock.now });
    assert.equal(await c.acquire('g', 2, 1_000), true);
    assert.equal(await c.acquire('g', 2, 1_000), true);
    assert.equal(await c.acquire('g', 2, 1_000), false);
    await c.release('g');
    assert.equal(await c.acquire('g', 2, 1_000), true);
    assert.equal(await c.acquire('g', 2, 1_000), false);
    clock.advance(1_001);
    assert.equal(await c.acquire('g', 2, 1_000), true);
  });

  test('expired windows and lapsed slots are swept, so memory stays bounded', async () => {
    const clock = manualClock(0);
    const c = new MemoryCounterStore({ now: clock.now, sweepEveryMs: 60_000 });
    for (let i = 0; i < 50; i++) await c.tryAdd(`k${i}`, 1, 10, 60_000);
    await c.acquire('slot', 1, 1_000);
    assert.equal(c.size, 51);
    clock.advance(61_000);
    await c.tryAdd('fresh', 1, 10, 60_000);
    assert.equal(c.size, 1);
  });
});
