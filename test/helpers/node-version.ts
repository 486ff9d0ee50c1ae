import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Gates for tests that need a newer Node than the gateway does (issue 14): the gateway runs on
 * Node 20.18+, while current third-party clients (the AI SDK, …) ask for Node 22 or later in
 * their `engines`. `npm test` runs the suite on this machine's Node and on the pinned Node 22 and
 * 24 (scripts/run-tests.mjs), so a test skipped here runs in those; the runner fails under
 * `CI=true` when a test was skipped this way on every Node that ran, so a skip is never silent.
 *
 * The skip reason starts with `needs Node >= ` (the runner looks for exactly that prefix).
 *
 * @example
 * describe('AI SDK (Responses mode) through the gateway', requiresNodeFor('ai', '@ai-sdk/openai'), () => { ... });
 * test('uses Array.fromAsync', requiresNode(22), async () => { ... });
 */
export interface NodeGate {
  /** For `describe`/`test` options: false on a Node that is new enough, else the skip reason. */
  skip: string | false;
}

// This file runs as dist/test/helpers/node-version.js: the repo root is three folders up.
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export const NEEDS_NODE_PREFIX = 'needs Node >= ';

/** The running Node's major version. */
export const NODE_MAJOR = Number(process.versions.node.split('.')[0]);

/** Skips unless this Node's major is at least `major`; `why` says who asks (e.g. an engines field). */
export function requiresNode(major: number, why?: string): NodeGate {
  if (NODE_MAJOR >= major) return { skip: false };
  return {
    skip: `${NEEDS_NODE_PREFIX}${major}${why ? ` (${why})` : ''}; this is Node ${process.version}. npm test also runs the suite on Node 22 and 24, which cover it (LLMPROXY_TEST_NODES)`,
  };
}

/** Skips unless this Node satisfies the lowest major every listed installed package's `engines.node` allows. */
export function requiresNodeFor(...packages: string[]): NodeGate {
  let needed = 0;
  const asks: string[] = [];
  for (const name of packages) {
    const range = enginesOf(name);
    const major = range === undefined ? undefined : enginesMinMajor(range);
    if (major === undefined) continue;
    if (major > needed) asks.length = 0;
    if (major >= needed) {
      needed = major;
      asks.push(`${name} engines ${range}`);
    }
  }
  return needed === 0 ? { skip: false } : requiresNode(needed, asks.join(', '));
}

/**
 * The lowest major version an `engines.node` range admits: `>=22` → 22, `^20.19 || >=22.12` → 20,
 * `20.x || 22.x` → 20, `18 - 24` → 18; undefined when some alternative has no lower bound (`*`, `<22`).
 */
export function enginesMinMajor(range: string): number | undefined {
  let min: number | undefined;
  for (const alternative of range.split('||').map((a) => a.trim())) {
    const m = /^(?:>=?|\^|~|=|v)?\s*(\d+)/.exec(alternative);
    // `*`, `x`, an empty alternative or an upper bound alone (`<22`) admit any old Node.
    if (!m) return undefined;
    min = Math.min(min ?? Infinity, Number(m[1]));
  }
  return min;
}

function enginesOf(name: string): string | undefined {
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { engines?: { node?: unknown } };
  return typeof pkg.engines?.node === 'string' ? pkg.engines.node : undefined;
}
