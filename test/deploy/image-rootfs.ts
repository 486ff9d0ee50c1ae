import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join, posix } from 'node:path';
import type { CopyInstruction } from './image-dockerfile.js';
import { REPO_ROOT, type ImageModel } from './image-model.js';

/**
 * Rebuilds, on this machine, the file system of the Dockerfile's runtime stage:
 *
 * - the distroless base: the Node binary of the same major (the `node-linux-<arch>` npm package,
 *   which repackages the nodejs.org build), the shared libraries it and the native addons load
 *   (from this Debian 12 host: the glibc of distroless debian12), `/etc/passwd` with nonroot
 *   65532, `/tmp`, the CA bundle;
 * - every runtime `COPY`, from what the named stage produces: `deps` by running the deps stage's
 *   own RUN commands (`npm ci --omit=dev ...`, `npm rebuild`, `ln -s /data data`) in a clean
 *   folder with that Node, `build` from this checkout's `dist/` limited to what `.dockerignore`
 *   lets into the build context, the build context from the checkout.
 *
 * Node and the deps stage's node_modules are cached under node_modules/.cache/llmproxy-image/,
 * keyed by the Node version, package-lock.json, package.json's dependency fields and the deps
 * stage's npm commands; the first run compiles better-sqlite3 (about 1.5 min here), later ones
 * hard-link.
 *
 * @example
 * const image = readImageModel();
 * const node = nodeForImage(image.nodeMajor);
 * const root = assembleRootfs(image, node, join(work, 'rootfs'));
 */

export const IMAGE_CACHE = join(REPO_ROOT, 'node_modules', '.cache', 'llmproxy-image');

function sh(cmd: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): string {
  const r = spawnSync(cmd, args, { cwd: options.cwd, env: options.env ?? process.env, encoding: 'utf8', timeout: options.timeoutMs ?? 120_000, maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) {
    const out = `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}`.trim();
    throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}): ${out.slice(-1500)}`);
  }
  return r.stdout;
}

/** Environment for a nested npm: without the npm_* variables of an enclosing `npm test`. */
function npmEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_/i.test(k)) env[k] = v;
  return { ...env, npm_config_update_notifier: 'false', npm_config_fund: 'false', ...extra };
}

export interface NodeDist {
  version: string;
  /** The unpacked package: bin/node, include/node (headers for native addons). */
  dir: string;
  bin: string;
}

/** The newest Node `major`.x for this machine's architecture, from the npm registry (cached). */
export function nodeForImage(major: number): NodeDist {
  const arch = { x64: 'x64', arm64: 'arm64' }[process.arch as string];
  if (process.platform !== 'linux' || !arch) throw new Error(`no node-linux-* package for ${process.platform}/${process.arch}`);
  const pkg = `node-linux-${arch}`;
  const cached = () =>
    (existsSync(IMAGE_CACHE) ? readdirSync(IMAGE_CACHE) : [])
      .filter((d) => d.startsWith(`${pkg}-${major}.`) && existsSync(join(IMAGE_CACHE, d, 'bin', 'node')))
      .sort((a, b) => compareVersions(a.slice(pkg.length + 1), b.slice(pkg.length + 1)));
  let version: string;
  try {
    const listed = JSON.parse(sh('npm', ['view', `${pkg}@${major}`, 'version', '--json'], { env: npmEnv({}) })) as string | string[];
    version = [listed].flat().sort(compareVersions).at(-1)!;
  } catch (err) {
    // The registry is unreachable: an earlier download will do.
    const last = cached().at(-1);
    if (!last) throw err;
    version = last.slice(pkg.length + 1);
  }
  const dir = join(IMAGE_CACHE, `${pkg}-${version}`);
  if (!existsSync(join(dir, 'bin', 'node'))) {
    const work = `${dir}.tmp-${process.pid}`;
    rmSync(work, { recursive: true, force: true });
    mkdirSync(work, { recursive: true });
    sh('npm', ['pack', `${pkg}@${version}`, '--pack-destination', work], { env: npmEnv({}), timeoutMs: 300_000 });
    const tgz = readdirSync(work).find((f) => f.endsWith('.tgz'));
    if (!tgz) throw new Error(`npm pack ${pkg}@${version} left no tarball`);
    sh('tar', ['-xzf', join(work, tgz), '-C', work, '--strip-components=1']);
    rmSync(join(work, tgz));
    publish(work, dir);
  }
  const bin = join(dir, 'bin', 'node');
  const reported = sh(bin, ['--version']).trim();
  if (reported !== `v${version}`) throw new Error(`${bin} reports ${reported}, expected v${version}`);
  return { version, dir, bin };
}

function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < 3; i++) if ((pa[i] ?? 0) !== (pb[i] ?? 0)) return (pa[i] ?? 0) - (pb[i] ?? 0);
  return 0;
}

/** Moves a finished work folder into place; another process that got there first wins. */
function publish(work: string, dir: string): void {
  try {
    renameSync(work, dir);
  } catch (err) {
    if (!existsSync(dir)) throw err;
    rmSync(work, { recursive: true, force: true });
  }
}

/** What a build stage leaves at one path, as the layout test reproduces it. */
interface StageOutputs {
  /** Absolute host paths by `<stage>:<absolute path in the stage>`. */
  paths: Map<string, string>;
  /** How each was made, for the test's report. */
  notes: string[];
}

const DEPS_PREREQUISITES = [/^apt-get update$/, /^apt-get install -y --no-install-recommends [\w .+-]+$/, /^rm -rf \/var\/lib\/apt\/lists\/\*$/];

/**
 * The deps stage, reproduced: its COPYs from the build context, then its RUN commands one by
 * one in a clean folder (npm with the image's Node and its headers). Cached by everything that
 * decides the result.
 */
function depsStage(image: ImageModel, node: NodeDist, work: string, out: StageOutputs): void {
  const runs = image.runs.get('deps');
  const workdir = image.stageWorkdir.get('deps');
  if (!runs || !workdir) throw new Error('the Dockerfile has no "deps" stage');
  const copies = image.stageCopies.get('deps') ?? [];
  const npmRuns = runs.filter((c) => /^npm (ci|rebuild)\b/.test(c));
  const manifest = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as Record<string, unknown>;
  // node_modules depends on these only (not on scripts or descriptions): a script added to package.json keeps the cache.
  const installInputs = ['name', 'version', 'dependencies', 'devDependencies', 'optionalDependencies', 'peerDependencies', 'overrides', 'bundleDependencies'].map((k) => manifest[k]);
  const key = createHash('sha256')
    .update(JSON.stringify({ node: node.version, arch: process.arch, npmRuns, installInputs }))
    .update(readFileSync(join(REPO_ROOT, 'package-lock.json')))
    .digest('hex')
    .slice(0, 16);
  const cacheDir = join(IMAGE_CACHE, `deps-${key}`);

  // The stage's folder for this run: its COPYs fresh from the context, node_modules from the cache.
  const folder = join(work, 'deps-app');
  mkdirSync(folder, { recursive: true });
  for (const c of copies) {
    if (c.from !== undefined || !(c.dest === './' || c.dest === `${workdir}/`)) throw new Error(`Dockerfile line ${c.line}: the layout test only reproduces deps-stage COPYs of context files into the workdir`);
    for (const s of c.sources) copyFileSync(contextPath(image, s), join(folder, basename(s)));
  }
  if (!existsSync(join(cacheDir, 'node_modules'))) {
    const tmp = `${cacheDir}.tmp-${process.pid}`;
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true });
    for (const f of readdirSync(folder)) copyFileSync(join(folder, f), join(tmp, f));
    const env = npmEnv({ PATH: `${join(node.dir, 'bin')}:${process.env['PATH'] ?? ''}`, npm_config_nodedir: node.dir });
    for (const cmd of npmRuns) sh('npm', cmd.split(/\s+/).slice(1), { cwd: tmp, env, timeoutMs: 900_000 });
    publish(tmp, cacheDir);
  }
  copyTree(join(cacheDir, 'node_modules'), join(folder, 'node_modules'), true);

  const made: string[] = []; // absolute folders `mkdir -p` creates outside the workdir
  for (const cmd of runs) {
    const npm = /^npm (ci|rebuild)\b/.test(cmd);
    const link = /^ln -s (\S+) (\S+)$/.exec(cmd);
    const mk = /^mkdir -p (\/\S+)$/.exec(cmd);
    if (npm) continue; // above, or from the cache
    if (DEPS_PREREQUISITES.some((re) => re.test(cmd))) continue; // build tools: this machine has python3, make, g++
    if (cmd === 'npm cache clean --force') continue; // changes no file under the workdir; here it would empty this machine's cache
    if (link) symlinkSync(link[1]!, join(folder, link[2]!));
    else if (mk && mk[1] !== workdir) made.push(mk[1]!);
    else throw new Error(`the deps stage runs "${cmd}", which the layout test does not reproduce: teach test/deploy/image-rootfs.ts`);
  }
  out.paths.set(`deps:${workdir}`, folder);
  for (const dir of made) {
    const empty = join(work, `deps${dir.replace(/\//g, '_')}`);
    mkdirSync(empty, { recursive: true });
    out.paths.set(`deps:${dir}`, empty);
  }
  out.notes.push(`deps: ${runs.filter((c) => c.startsWith('npm ') || c.startsWith('ln ')).join(' && ')} with Node ${node.version} (cache ${basename(cacheDir)})`);
}

/** The build stage's `dist/src` (this checkout's compiled files whose source is in the build context) and `dist/console`. */
function buildStage(image: ImageModel, work: string, out: StageOutputs): void {
  const runs = image.runs.get('build');
  const workdir = image.stageWorkdir.get('build');
  if (!runs || !workdir) throw new Error('the Dockerfile has no "build" stage');
  for (const cmd of runs) {
    if (!/^npm ci\b/.test(cmd) && cmd !== 'npm run build') throw new Error(`the build stage runs "${cmd}", which the layout test does not reproduce`);
  }
  if (!runs.includes('npm run build')) throw new Error('the build stage does not run "npm run build"');
  for (const c of image.stageCopies.get('build') ?? []) {
    if (c.from !== undefined) throw new Error(`Dockerfile line ${c.line}: the build stage copies from another stage`);
    for (const s of c.sources) contextPath(image, s); // each must be in the build context
  }
  const target = join(work, 'build-dist-src');
  let copied = 0;
  let left = 0;
  const walk = (rel: string) => {
    for (const name of readdirSync(join(REPO_ROOT, 'dist', 'src', rel))) {
      const r = join(rel, name);
      const from = join(REPO_ROOT, 'dist', 'src', r);
      if (lstatSync(from).isDirectory()) {
        walk(r);
        continue;
      }
      const source = posix.join('src', r.replace(/\.js(\.map)?$/, '.ts'));
      // Compiled from a source file the context holds; stale outputs of deleted sources stay out too.
      if (!/\.js(\.map)?$/.test(name) || !existsSync(join(REPO_ROOT, source)) || image.ignore.excludes(source)) {
        left++;
        continue;
      }
      mkdirSync(dirname(join(target, r)), { recursive: true });
      copyFileSync(from, join(target, r));
      copied++;
    }
  };
  walk('');
  out.paths.set(`build:${posix.join(workdir, 'dist/src')}`, target);
  out.notes.push(`build: dist/src from this checkout, ${copied} files whose sources .dockerignore admits (${left} left out: tests, test-support, stale outputs)`);
  // The console's bundle, which `npm run build` makes from console/ (when the context holds it).
  const consoleDist = join(REPO_ROOT, 'dist', 'console');
  if (!image.ignore.excludes('console/src/main.tsx') && existsSync(join(consoleDist, 'index.html'))) {
    const consoleTarget = join(work, 'build-dist-console');
    copyTree(consoleDist, consoleTarget, false);
    out.paths.set(`build:${posix.join(workdir, 'dist/console')}`, consoleTarget);
    out.notes.push('build: dist/console (the console bundle) from this checkout');
  }
}

function contextPath(image: ImageModel, source: string): string {
  const rel = posix.normalize(source).replace(/^\/+/, '').replace(/\/+$/, '');
  if (image.ignore.excludes(rel)) throw new Error(`${rel} is excluded from the build context by .dockerignore`);
  const path = join(REPO_ROOT, rel);
  if (!existsSync(path)) throw new Error(`${rel} is not in the checkout`);
  return path;
}

function copyTree(from: string, to: string, link: boolean): void {
  mkdirSync(dirname(to), { recursive: true });
  const isDir = lstatSync(from).isDirectory();
  if (isDir) mkdirSync(to, { recursive: true });
  const src = isDir ? `${from}/.` : from;
  // Hard links keep a 300 MB tree cheap to lay out again; another file system gets a copy.
  if (link && spawnSync('cp', ['-al', src, to]).status === 0) return;
  sh('cp', ['-a', src, to]);
}

/** Libraries `ldd` lists for `file` (none for a file that is not a dynamic executable of this machine). */
function sharedLibraries(file: string): string[] {
  const r = spawnSync('ldd', [file], { encoding: 'utf8' });
  if (r.status !== 0) return [];
  return [...r.stdout.matchAll(/(?:=>\s*)?(\/\S+)\s+\(0x/g)].map((m) => m[1]!);
}

function findFiles(dir: string, suffix: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = lstatSync(p);
    if (st.isDirectory()) findFiles(p, suffix, out);
    else if (st.isFile() && name.endsWith(suffix)) out.push(p);
  }
  return out;
}

export interface Rootfs {
  root: string;
  notes: string[];
}

/** Lays out the runtime stage's file system at `root` (which must not exist yet). */
export function assembleRootfs(image: ImageModel, node: NodeDist, root: string): Rootfs {
  const work = `${root}-sources`;
  mkdirSync(work, { recursive: true });
  const outputs: StageOutputs = { paths: new Map(), notes: [] };
  depsStage(image, node, work, outputs);
  buildStage(image, work, outputs);

  // The distroless base.
  mkdirSync(root, { recursive: true });
  for (const d of ['etc/ssl/certs', 'nodejs/bin', 'proc', 'dev', 'sys', 'etc/llmproxy']) mkdirSync(join(root, d), { recursive: true });
  mkdirSync(join(root, 'tmp'));
  chmodSync(join(root, 'tmp'), 0o1777);
  mkdirSync(join(root, 'home/nonroot'), { recursive: true });
  chownSync(join(root, 'home/nonroot'), 65532, 65532);
  chmodSync(join(root, 'home/nonroot'), 0o700);
  writeFileSync(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n');
  writeFileSync(join(root, 'etc/group'), 'root:x:0:\nnobody:x:65534:\ntty:x:5:\nstaff:x:50:\nnonroot:x:65532:\n');
  if (existsSync('/etc/ssl/certs/ca-certificates.crt')) copyFileSync('/etc/ssl/certs/ca-certificates.crt', join(root, 'etc/ssl/certs/ca-certificates.crt'));
  copyTree(node.bin, join(root, 'nodejs/bin/node'), true);

  // The runtime stage's COPY lines, in order.
  for (const copy of image.copies) applyCopy(copy, outputs, image, root);

  // Shared libraries for node and every native addon (as distroless' cc base ships them).
  const libs = new Set<string>(sharedLibraries(node.bin));
  for (const addon of findFiles(join(root, 'app'), '.node')) for (const l of sharedLibraries(addon)) libs.add(l);
  for (const lib of libs) {
    mkdirSync(dirname(join(root, lib)), { recursive: true });
    copyFileSync(lib, join(root, lib)); // follows the symlink: the file itself under the linked name
  }
  mkdirSync(join(root, image.workdir), { recursive: true });
  rmSync(work, { recursive: true, force: true });
  return { root, notes: [...outputs.notes, `base: Node ${node.version} (npm node-linux-${process.arch}), ${libs.size} shared libraries from this host`] };
}

function applyCopy(copy: CopyInstruction, outputs: StageOutputs, image: ImageModel, root: string): void {
  if (copy.chmod !== undefined) throw new Error(`Dockerfile line ${copy.line}: COPY --chmod is not reproduced by the layout test`);
  if (!copy.dest.startsWith('/')) throw new Error(`Dockerfile line ${copy.line}: the runtime stage's COPY destinations must be absolute`);
  for (const source of copy.sources) {
    let from: string;
    if (copy.from === undefined) from = contextPath(image, source);
    else {
      const p = outputs.paths.get(`${copy.from}:${posix.normalize(source).replace(/\/+$/, '')}`);
      if (p === undefined) throw new Error(`Dockerfile line ${copy.line}: the layout test does not know what stage "${copy.from}" leaves at ${source}`);
      from = p;
    }
    const isDir = lstatSync(from).isDirectory();
    const to = join(root, !isDir && copy.dest.endsWith('/') ? posix.join(copy.dest, basename(source)) : copy.dest);
    copyTree(from, to, true);
    if (copy.chown !== undefined) {
      const ids = /^(\d+):(\d+)$/.exec(copy.chown);
      if (!ids) throw new Error(`Dockerfile line ${copy.line}: --chown must be numeric uid:gid`);
      sh('chown', ['-R', '--no-dereference', `${ids[1]}:${ids[2]}`, to]);
    }
  }
}

/**
 * A Containerfile that builds the same image `FROM scratch` over `rootfs.tar` (the assembled
 * tree, ownership kept), followed by the runtime stage's configuration lines verbatim.
 */
export function writeContainerContext(image: ImageModel, rootfs: Rootfs, context: string): void {
  mkdirSync(context, { recursive: true });
  sh('tar', ['--numeric-owner', '-C', rootfs.root, '-cf', join(context, 'rootfs.tar'), '.'], { timeoutMs: 300_000 });
  const env = Object.entries({ PATH: image.env['PATH'], SSL_CERT_FILE: image.env['SSL_CERT_FILE'] }).map(([k, v]) => `${k}=${JSON.stringify(v)}`);
  writeFileSync(
    join(context, 'Containerfile'),
    ['FROM scratch', 'ADD rootfs.tar /', `ENV ${env.join(' ')}`, ...image.config.map((l) => l.replace(/\n/g, ' '))].join('\n') + '\n',
  );
}

/** `path -> mode uid:gid size mtime` for every entry under `root` except the skipped top-level folders. */
export function snapshot(root: string, skip: string[]): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (rel: string) => {
    for (const name of readdirSync(join(root, rel))) {
      const r = rel === '' ? name : `${rel}/${name}`;
      if (rel === '' && skip.includes(name)) continue;
      const st = lstatSync(join(root, r));
      out.set(r, `${st.mode.toString(8)} ${st.uid}:${st.gid} ${st.size} ${st.mtimeMs}`);
      if (st.isDirectory()) walk(r);
    }
  };
  walk('');
  return out;
}
