import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { cruise } from 'dependency-cruiser';
import extractTSConfig from 'dependency-cruiser/config-utl/extract-ts-config';

/**
 * No import cycle under src/, between files or between folders (docs/ARCHITECTURE.md, "Layers").
 * dependency-cruiser reads the TypeScript sources, `import type` included: a type-only circle
 * is a circle too (it says two files cannot be understood apart). Test files are left out: a
 * test may reach anywhere. A folder is a top-level folder of src/ (`clientauth`, `store`, ...;
 * `app.ts` is its own node); a kind's subfolder importing its parent's contract while the
 * parent's registry lists it is inside one folder, as the registries are meant to work.
 */

// This file runs as dist/test/contracts/import-cycles.test.js: the repo root is three folders up.
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

type Graph = Map<string, Set<string>>;

/** The import graph of the TypeScript files under `dir` of `root`, test files left out. */
async function importGraph(root: string, dir: string): Promise<{ graph: Graph; unresolved: string[] }> {
  const tsConfigFile = join(root, 'tsconfig.json');
  const previous = process.cwd();
  // dependency-cruiser resolves names relative to the working directory.
  process.chdir(root);
  try {
    const { output } = await cruise(
      [dir],
      {
        baseDir: root,
        tsPreCompilationDeps: true,
        tsConfig: { fileName: tsConfigFile },
        doNotFollow: { path: 'node_modules' },
        exclude: { path: '\\.test\\.ts$' },
      },
      undefined,
      { tsConfig: extractTSConfig(tsConfigFile) },
    );
    if (typeof output === 'string') throw new Error('dependency-cruiser answered text, not a result object');
    const graph: Graph = new Map();
    const unresolved: string[] = [];
    const inside = (path: string) => path.startsWith(`${dir}/`) && !path.endsWith('.test.ts');
    for (const module of output.modules) {
      if (!inside(module.source)) continue;
      const edges = new Set<string>();
      for (const dep of module.dependencies) {
        if (dep.couldNotResolve && dep.module.startsWith('.')) unresolved.push(`${module.source} imports ${dep.module}`);
        if (inside(dep.resolved)) edges.add(dep.resolved);
      }
      graph.set(module.source, edges);
    }
    return { graph, unresolved };
  } finally {
    process.chdir(previous);
  }
}

/** The folder graph: `src/a/x.ts` → `src/b/y.ts` becomes `a` → `b` (files directly in `dir` are their own node). */
function folderGraph(files: Graph, dir: string): Graph {
  const folderOf = (path: string) => path.slice(dir.length + 1).split('/')[0]!;
  const graph: Graph = new Map();
  for (const [from, targets] of files) {
    const a = folderOf(from);
    if (!graph.has(a)) graph.set(a, new Set());
    for (const to of targets) {
      const b = folderOf(to);
      if (a !== b) graph.get(a)!.add(b);
    }
  }
  return graph;
}

/**
 * Every cycle, named: for each strongly connected component of more than one node (Tarjan's
 * algorithm), its members and one concrete cycle through them, `a → b → a`.
 */
function cyclesOf(graph: Graph): string[] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next);
    next++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || graph.get(v)?.has(v)) components.push(component.sort());
    }
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) visit(v);
  return components.map((members) => `${shortestCycle(graph, members)} (members: ${members.join(', ')})`);
}

/** A shortest cycle through the first member, within the component (breadth first). */
function shortestCycle(graph: Graph, members: string[]): string {
  const inComponent = new Set(members);
  const start = members[0]!;
  const parent = new Map<string, string>();
  const queue = [start];
  for (let i = 0; i < queue.length; i++) {
    const v = queue[i]!;
    for (const w of [...(graph.get(v) ?? [])].sort()) {
      if (!inComponent.has(w)) continue;
      if (w === start) {
        const path = [start];
        for (let u: string | undefined = v; u !== undefined && u !== start; u = parent.get(u)) path.splice(1, 0, u);
        return [...path, start].join(' → ');
      }
      if (!parent.has(w)) {
        parent.set(w, v);
        queue.push(w);
      }
    }
  }
  return members.join(' → ');
}

describe('import cycles under src/', () => {
  let result: Promise<{ graph: Graph; unresolved: string[] }> | undefined;
  const sources = () => (result ??= importGraph(REPO_ROOT, 'src'));

  test('the graph is the real one: every file, every relative import resolved, type-only imports included', async () => {
    const { graph, unresolved } = await sources();
    assert.ok(graph.size > 150, `only ${graph.size} files cruised`);
    assert.ok(graph.has('src/app.ts'));
    assert.deepEqual(unresolved, [], 'imports dependency-cruiser could not resolve (a cycle through them would go unseen)');
    // `import type { KeyLimits } from '../store/access-types.js'` is the only import of that file here.
    assert.ok(graph.get('src/request/principal.ts')?.has('src/store/access-types.ts'), 'type-only imports are missing from the graph');
  });

  test('no cycle between files', async () => {
    const { graph } = await sources();
    const cycles = cyclesOf(graph);
    assert.deepEqual(cycles, [], `import cycles between files:\n  ${cycles.join('\n  ')}`);
  });

  test('no cycle between folders', async () => {
    const { graph } = await sources();
    const folders = folderGraph(graph, 'src');
    assert.ok(folders.has('clientauth') && folders.has('request') && folders.has('app.ts'));
    const cycles = cyclesOf(folders);
    assert.deepEqual(cycles, [], `import cycles between folders of src/:\n  ${cycles.join('\n  ')}`);
  });
});

/**
 * The root config (`src/config/`: the schema assembled from every folder's section, load,
 * reload) sits just under the composition root: only `app.ts` and `cli/` import it. Every
 * other folder is handed its own section, typed by the section's schema in its own folder
 * (`store/config.ts`, `clientauth/config.ts`, ...), and the field helpers in `config-fields/`
 * never import the root.
 */
describe('the config root sits just under app.ts', () => {
  let result: Promise<{ graph: Graph; unresolved: string[] }> | undefined;
  const sources = () => (result ??= importGraph(REPO_ROOT, 'src'));

  test('only app.ts and cli/ import src/config/', async () => {
    const { graph } = await sources();
    const importers = [...graph].filter(([from, targets]) => !from.startsWith('src/config/') && [...targets].some((t) => t.startsWith('src/config/'))).map(([from]) => from);
    assert.ok(importers.includes('src/app.ts'), 'app.ts loads the config: the graph is wrong');
    assert.deepEqual(importers.filter((f) => f !== 'src/app.ts' && !f.startsWith('src/cli/')), [], 'files below app.ts that import the root config instead of taking their section');
  });

  test('config-fields/ is a leaf under the root: it imports neither config/ nor anything that does', async () => {
    const { graph } = await sources();
    const folders = folderGraph(graph, 'src');
    assert.ok(folders.has('config-fields'));
    const reach = new Set<string>();
    const visit = (folder: string): void => {
      for (const next of folders.get(folder) ?? []) if (!reach.has(next)) (reach.add(next), visit(next));
    };
    visit('config-fields');
    assert.equal(reach.has('config'), false, `config-fields reaches config/ through ${[...reach].join(', ')}`);
  });
});

describe('the cycle check finds cycles', () => {
  const root = mkdtempSync(join(tmpdir(), 'import-cycles-'));
  after(() => rmSync(root, { recursive: true, force: true }));
  const write = (path: string, text: string) => {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  };
  write('tsconfig.json', JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', strict: true }, include: ['src/**/*.ts'] }));
  write('package.json', JSON.stringify({ type: 'module' }));
  // A type-only circle between two files.
  write('src/shapes/a.ts', "import type { B } from './b.js';\nexport interface A { b?: B }\n");
  write('src/shapes/b.ts', "import type { A } from './a.js';\nexport interface B { a?: A }\n");
  // A folder circle without a file circle: up/one.ts → down/two.ts, down/three.ts → up/four.ts.
  write('src/up/one.ts', "import { two } from '../down/two.js';\nexport const one = two + 1;\n");
  write('src/up/four.ts', 'export const four = 4;\n');
  write('src/down/two.ts', 'export const two = 2;\n');
  write('src/down/three.ts', "import { four } from '../up/four.js';\nexport const three = four - 1;\n");
  // A test file importing against the layering is left out.
  write('src/down/two.test.ts', "import { one } from '../up/one.js';\nexport const x = one;\n");

  test('a type-only file circle and a folder circle are both named', async () => {
    const { graph, unresolved } = await importGraph(root, 'src');
    assert.deepEqual(unresolved, []);
    assert.deepEqual(cyclesOf(graph), ['src/shapes/a.ts → src/shapes/b.ts → src/shapes/a.ts (members: src/shapes/a.ts, src/shapes/b.ts)']);
    assert.deepEqual(cyclesOf(folderGraph(graph, 'src')), ['down → up → down (members: down, up)']);
  });
});
