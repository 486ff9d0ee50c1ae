import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { MEMORY_DEFAULTS_ENV, memoryDefaults } from './memory.js';

const ALL = { flags: ['--heap-growing-percent=100', '--liftoff-only'], capYoungGeneration: true, deferOptimizer: true };

describe('memoryDefaults', () => {
  test('with no flags of the user\'s own: the young-generation cap, the old generation\'s growth, Liftoff only and the optimiser after startup', () => {
    assert.deepEqual(memoryDefaults([], {}), ALL);
    assert.deepEqual(memoryDefaults(['--enable-source-maps', '--max-old-space-size=512'], {}), ALL);
  });

  const userWins: Array<[string[], Partial<typeof ALL>]> = [
    [['--max-semi-space-size=16'], { capYoungGeneration: false }],
    [['--max_semi_space_size=16'], { capYoungGeneration: false }],
    [['--semi-space-growth-factor=4'], { capYoungGeneration: false }],
    [['--heap-growing-percent=300'], { flags: ['--liftoff-only'] }],
    [['--heap_growing_percent', '300'], { flags: ['--liftoff-only'] }],
    [['--no-liftoff-only'], { flags: ['--heap-growing-percent=100'] }],
    [['--no-liftoff'], { flags: ['--heap-growing-percent=100'] }],
    [['--turbofan'], { deferOptimizer: false }],
    [['--no-opt'], { deferOptimizer: false }],
    [['--jitless'], { deferOptimizer: false }],
  ];
  for (const [flags, changed] of userWins) {
    test(`a flag the user sets keeps its value: ${flags.join(' ')}`, () => {
      assert.deepEqual(memoryDefaults(flags, {}), { ...ALL, ...changed });
    });
  }

  test('WebAssembly is optimised as usual where glibc returns freed memory (its mmap threshold is set)', () => {
    const noLiftoff = { ...ALL, flags: ['--heap-growing-percent=100'] };
    assert.deepEqual(memoryDefaults([], { MALLOC_MMAP_THRESHOLD_: '131072' }), noLiftoff);
    assert.deepEqual(memoryDefaults([], { GLIBC_TUNABLES: 'glibc.malloc.arena_max=2:glibc.malloc.mmap_threshold=131072' }), noLiftoff);
    assert.deepEqual(memoryDefaults([], { MALLOC_MMAP_THRESHOLD_: '', GLIBC_TUNABLES: 'glibc.malloc.arena_max=2' }), ALL);
  });

  test(`${MEMORY_DEFAULTS_ENV}=off leaves V8 at its own settings`, () => {
    const none = { flags: [], capYoungGeneration: false, deferOptimizer: false };
    assert.deepEqual(memoryDefaults([], { [MEMORY_DEFAULTS_ENV]: 'off' }), none);
    assert.deepEqual(memoryDefaults([], { [MEMORY_DEFAULTS_ENV]: ' OFF ' }), none);
    assert.deepEqual(memoryDefaults([], { [MEMORY_DEFAULTS_ENV]: 'on' }), ALL);
  });
});

/**
 * A child process that applies the defaults, then churns allocations with many survivors (which
 * makes V8 grow its young generation to its maximum: 32 MiB on Node 20 and 22, 64 on 24),
 * yielding to the event loop between rounds as a gateway does between requests. Prints the
 * largest young generation (both semi-spaces, MiB) seen before and after afterStartup().
 */
function youngGenerationPeaks(env: NodeJS.ProcessEnv): { starting: number; serving: number } {
  const memory = new URL('./memory.js', import.meta.url).href;
  const script = `
    import v8 from 'node:v8';
    import { applyMemoryDefaults, afterStartup } from ${JSON.stringify(memory)};
    applyMemoryDefaults();
    const young = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size / 1048576;
    async function churn() {
      let peak = 0;
      const kept = [];
      for (let round = 0; round < 200; round++) {
        for (let i = 0; i < 10000; i++) {
          const o = { i, s: 'x' + i, a: [i] };
          if (i % 20 === 0) kept.push(o);
        }
        if (kept.length > 40000) kept.length = 0;
        peak = Math.max(peak, young());
        await new Promise((r) => setImmediate(r));
      }
      return peak;
    }
    const starting = await churn();
    afterStartup();
    const serving = await churn();
    process.stdout.write(JSON.stringify({ starting, serving }));
  `;
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { env: { ...env, NODE_OPTIONS: '' }, encoding: 'utf8', timeout: 60_000 });
  assert.equal(run.status, 0, run.stderr);
  return JSON.parse(run.stdout) as { starting: number; serving: number };
}

describe('applyMemoryDefaults in a process', () => {
  test('the young generation stays near its initial size while starting, and near the 4 MiB cap (8 MiB for both semi-spaces) once serving', () => {
    const peaks = youngGenerationPeaks({ ...process.env, [MEMORY_DEFAULTS_ENV]: '' });
    // Node 20 and 22 stop at exactly 2 and 8 MiB. Node 24's young generation still grows past a
    // growth factor of 1, a page at a time (seen: up to 9.25 and 13 MiB), hence the margins;
    // both stay below the 32 MiB that V8 reaches without the cap (next test).
    assert.ok(peaks.starting <= 16, `starting: ${peaks.starting} MiB`);
    assert.ok(peaks.serving <= 24, `serving: ${peaks.serving} MiB`);
  });

  test(`the same allocations grow it to 32 MiB or more with ${MEMORY_DEFAULTS_ENV}=off (what the cap prevents)`, () => {
    const peaks = youngGenerationPeaks({ ...process.env, [MEMORY_DEFAULTS_ENV]: 'off' });
    assert.ok(peaks.serving >= 32, `serving: ${peaks.serving} MiB`);
  });
});
