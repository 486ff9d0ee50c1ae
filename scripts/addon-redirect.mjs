// Preloaded (NODE_OPTIONS=--import=…) into every process of a test run on an alternate Node:
// resolves `better-sqlite3` to the copy scripts/test-nodes.mjs compiled for this Node's ABI, so
// the installed node_modules (built for the machine's Node) is used unchanged by the gateway, the
// tests and their child processes alike.
//
// Node's module customization hooks (https://nodejs.org/api/module.html#customization-hooks) are
// the documented way to change resolution; nothing is patched. The redirect applies only when the
// copy's recorded ABI is this process's (process.versions.modules): a child that runs another Node
// (say `node` from PATH) keeps the default resolution instead of loading a binary it cannot.
//
// Environment: LLMPROXY_TEST_BETTER_SQLITE3 = the compiled copy's directory.
import module from 'node:module';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const dir = process.env.LLMPROXY_TEST_BETTER_SQLITE3;
const abi = dir ? readAbi(dir) : undefined;

if (dir && abi?.modules === process.versions.modules) {
  const targetPath = join(dir, 'lib', 'index.js');
  const target = pathToFileURL(targetPath).href;
  // Resolving the copy's entry through the default resolver (rather than answering with a
  // format) keeps Node's own CommonJS loader in charge, so the package's require() calls behave;
  // require() resolves paths, import resolves URLs.
  /** @type {import('node:module').ResolveHookSync} */
  const resolve = (specifier, context, next) =>
    next(specifier !== 'better-sqlite3' ? specifier : context.conditions?.includes('require') ? targetPath : target, context);
  if (typeof module.registerHooks === 'function') {
    // In-thread and synchronous (Node >= 22.15): covers import and require, no hooks worker.
    module.registerHooks({ resolve });
  } else {
    // Node 20: the off-thread hooks API, from source inlined so there is no second file to find.
    const source = `export async function resolve(s, c, n) { return n(s === 'better-sqlite3' ? ${JSON.stringify(target)} : s, c); }`;
    module.register(`data:text/javascript,${encodeURIComponent(source)}`);
  }
}

function readAbi(path) {
  try {
    return JSON.parse(readFileSync(join(path, 'llmproxy-abi.json'), 'utf8'));
  } catch {
    return undefined; // not built (yet): default resolution, and the load error names the real problem
  }
}
