import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { JtiReplayCache } from './replay.js';

describe('JtiReplayCache', () => {
  test('first use only, until the token expires; bounded', () => {
    let now = 1_000;
    const cache = new JtiReplayCache(2, () => now);
    assert.equal(cache.firstUse('a', 5_000), true);
    assert.equal(cache.firstUse('a', 5_000), false);
    now = 5_001;
    assert.equal(cache.firstUse('a', 9_000), true, 'remembered only while the token could still verify');
    assert.equal(cache.firstUse('b', 9_000), true);
    assert.equal(cache.firstUse('c', 9_000), true, 'full of live ids: the oldest is forgotten');
    assert.equal(cache.firstUse('b', 9_000), false);
    assert.equal(cache.firstUse('c', 9_000), false);
  });
});
