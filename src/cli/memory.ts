import { PerformanceObserver } from 'node:perf_hooks';
import v8 from 'node:v8';

/** The young generation's cap per semi-space (V8 keeps two): 4 MiB, where V8 grows to 16 MiB (32 on Node 24). */
export const YOUNG_SEMI_SPACE_CAP = 4 * 1024 * 1024;

/** V8's own `--semi-space-growth-factor` (the same on Node 20, 22 and 24). */
const V8_GROWTH_FACTOR = 2;

/** Set to `off` to leave V8 at its own settings (the flags a user passes win anyway, see below). */
export const MEMORY_DEFAULTS_ENV = 'LLMPROXY_MEMORY_DEFAULTS';

/** What `applyMemoryDefaults` sets. */
export interface MemoryDefaults {
  /** V8 flags for the life of the process. */
  flags: string[];
  /** The young generation is held at its initial size while the gateway starts, then capped. */
  capYoungGeneration: boolean;
  /** V8's optimising compiler (TurboFan) waits until the gateway has started. */
  deferOptimizer: boolean;
}

/**
 * The memory defaults that apply given the node flags the user set and the environment. Each
 * setting is left out when the user names a flag of its own (with or without `no-`, `-` or `_`):
 *
 * - young generation capped at YOUNG_SEMI_SPACE_CAP: left out for `--max-semi-space-size` or
 *   `--semi-space-growth-factor`;
 * - `--heap-growing-percent=100`: left out for `--heap-growing-percent`;
 * - `--liftoff-only`: left out for `--liftoff-only` or `--liftoff`, and when glibc is told to
 *   return large freed blocks (see keepsFreedMemory);
 * - the optimiser deferred until started: left out for `--turbofan`, `--opt` or `--jitless`.
 *
 * @example
 * memoryDefaults(['--max-semi-space-size=16'], {});
 * // { flags: ['--heap-growing-percent=100', '--liftoff-only'], capYoungGeneration: false, deferOptimizer: true }
 */
export function memoryDefaults(userFlags: readonly string[], env: NodeJS.ProcessEnv): MemoryDefaults {
  if (env[MEMORY_DEFAULTS_ENV]?.trim().toLowerCase() === 'off') return { flags: [], capYoungGeneration: false, deferOptimizer: false };
  const named = new Set(userFlags.map(flagName));
  const flags: string[] = [];
  if (!named.has('heap-growing-percent')) flags.push('--heap-growing-percent=100');
  if (!named.has('liftoff-only') && !named.has('liftoff') && keepsFreedMemory(env)) flags.push('--liftoff-only');
  return {
    flags,
    capYoungGeneration: !named.has('max-semi-space-size') && !named.has('semi-space-growth-factor'),
    deferOptimizer: !named.has('turbofan') && !named.has('opt') && !named.has('jitless'),
  };
}

/** What applyMemoryDefaults held back while the gateway starts, for afterStartup. */
let startup: { capYoungGeneration: boolean; deferOptimizer: boolean } | undefined;

/**
 * Memory defaults for a gateway process, applied by main.ts for `serve` before the gateway's
 * modules load (loading them alone grows the young generation to its maximum), so every way of
 * starting it gets them: `npm start`, the `llmproxy` bin, `node dist/src/cli/main.js serve` and
 * the container.
 * Measured effect and cost: docs/performance.md.
 *
 * V8 reads its heap sizes (`--max-semi-space-size`, `--max-old-space-size`) once, when it starts,
 * so they cannot be set from here. The flags below are read as the heap works, so
 * `v8.setFlagsFromString` changes them for the rest of the process (checked on Node 20, 22, 24):
 *
 * - Young generation: V8 doubles it under load up to 16 MiB per semi-space (32 on Node 24) and
 *   keeps it. It stops doubling here at YOUNG_SEMI_SPACE_CAP: the growth factor is set to 1 once
 *   the cap is reached and back to V8's 2 when V8 has shrunk it, checked after every GC. The
 *   check runs between event-loop turns, and Node 24 still grows it a page at a time at a
 *   factor of 1, so the cap is approximate. While the gateway starts it does not grow at all
 *   (afterStartup).
 * - Old generation: after each full GC V8 lets it grow to up to four times what survived before
 *   the next one; `--heap-growing-percent=100` allows twice, which bounds the garbage a busy
 *   gateway carries at a few more full GCs.
 * - WebAssembly stays on V8's baseline compiler (`--liftoff-only`) when glibc would keep freed
 *   memory (keepsFreedMemory): undici's HTTP parser is WebAssembly, and optimising its hot
 *   functions takes about 38 MB of compiler memory once, under the first load, which glibc then
 *   keeps (peak RSS under c=64: 180 -> 146 MB). Where glibc returns it (npm start and the
 *   container set MALLOC_MMAP_THRESHOLD_), that is 3 MB of peak, less than the CPU the
 *   baseline code costs per response (a few percent at c=64), so the parser is optimised.
 * - The optimising compiler (TurboFan) waits until the gateway has started (afterStartup):
 *   starting runs most code once, and what TurboFan compiled of it only left its code pages and
 *   compiler memory behind (idle RSS 2 s after start: Node 20 82 -> 78 MiB, Node 22 99 -> 85,
 *   Node 24 95 -> 89; time to ready unchanged within noise).
 *
 * A flag the user sets in NODE_OPTIONS or on node's command line keeps its value (see
 * memoryDefaults); `LLMPROXY_MEMORY_DEFAULTS=off` leaves V8 entirely at its own settings.
 */
export function applyMemoryDefaults(env: NodeJS.ProcessEnv = process.env, execArgv: readonly string[] = process.execArgv): MemoryDefaults {
  const defaults = memoryDefaults([...execArgv, ...nodeOptions(env)], env);
  for (const flag of defaults.flags) v8.setFlagsFromString(flag);
  if (defaults.capYoungGeneration) v8.setFlagsFromString('--semi-space-growth-factor=1');
  if (defaults.deferOptimizer) v8.setFlagsFromString('--no-turbofan');
  startup = { capYoungGeneration: defaults.capYoungGeneration, deferOptimizer: defaults.deferOptimizer };
  return defaults;
}

/**
 * Called once the gateway is up (serve, after it listens): the young generation may now grow, up
 * to its cap, and hot code is optimised again. Until then the young generation stays at V8's
 * initial size (1 MiB per semi-space) and the optimiser waits, so starting, which loads and runs
 * some 700 modules once and validates the config, leaves neither behind (idle RSS 2 s after
 * start: 87 -> 82 MiB for the young generation on Node 20).
 */
export function afterStartup(): void {
  if (!startup) return;
  const { capYoungGeneration: cap, deferOptimizer } = startup;
  startup = undefined;
  if (deferOptimizer) v8.setFlagsFromString('--turbofan');
  if (cap) capYoungGeneration(YOUNG_SEMI_SPACE_CAP);
}

/** Keeps V8 from growing the young generation past `semiSpaceBytes` per semi-space. */
function capYoungGeneration(semiSpaceBytes: number): void {
  let growing: boolean | undefined;
  const check = () => {
    const young = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
    // `space_size` counts both semi-spaces.
    const grow = young === undefined || young.space_size < 2 * semiSpaceBytes;
    if (grow === growing) return;
    growing = grow;
    v8.setFlagsFromString(`--semi-space-growth-factor=${grow ? V8_GROWTH_FACTOR : 1}`);
  };
  check();
  new PerformanceObserver(check).observe({ entryTypes: ['gc'] });
}

/**
 * Whether freed memory of the size of a compiler's scratch space stays resident: true unless
 * glibc's mmap threshold is set (MALLOC_MMAP_THRESHOLD_ or the glibc.malloc.mmap_threshold
 * tunable). Left to adapt, glibc raises the threshold to the largest block freed (argon2's 19 MiB
 * at start), and blocks below it come from heaps it trims only past twice that.
 */
function keepsFreedMemory(env: NodeJS.ProcessEnv): boolean {
  return !env['MALLOC_MMAP_THRESHOLD_'] && !(env['GLIBC_TUNABLES'] ?? '').includes('glibc.malloc.mmap_threshold=');
}

/** The options in NODE_OPTIONS (split on white space; quoted values keep no meaning here). */
function nodeOptions(env: NodeJS.ProcessEnv): string[] {
  return (env['NODE_OPTIONS'] ?? '').split(/\s+/).filter((o) => o.startsWith('-'));
}

/** `--no-max_semi_space_size=1` → `max-semi-space-size`. */
function flagName(flag: string): string {
  return flag.replace(/^--?/, '').split('=')[0]!.replace(/_/g, '-').replace(/^no-/, '');
}
