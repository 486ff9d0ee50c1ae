// Builds the admin console (console/) into dist/console/: index.html plus content-hashed
// assets/app-<hash>.js and .css. The page runs under a CSP without 'unsafe-inline', so the
// HTML carries no inline script or style; it only references the two assets.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import * as esbuild from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'console');
const out = join(root, 'dist', 'console');

// esbuild strips types without checking them; a type error must fail the build.
try {
  execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(src, 'tsconfig.json'), '--noEmit'], { stdio: 'inherit' });
} catch {
  console.error('console: type errors (above); the console was not built');
  process.exit(1);
}

rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, 'assets'), { recursive: true });

const result = await esbuild.build({
  entryPoints: { app: join(src, 'src', 'main.tsx') },
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['es2020'],
  platform: 'browser',
  tsconfig: join(src, 'tsconfig.json'),
  outdir: join(out, 'assets'),
  entryNames: '[name]-[hash]',
  assetNames: '[name]-[hash]',
  legalComments: 'none',
  metafile: true,
  logLevel: 'warning',
});

const outputs = Object.entries(result.metafile.outputs).filter(([, o]) => o.entryPoint !== undefined);
const [jsPath, js] = outputs[0];
if (!js.cssBundle) throw new Error('the console bundle has no CSS');
const jsFile = basename(jsPath);
const cssFile = basename(js.cssBundle);

const html = readFileSync(join(src, 'index.html'), 'utf8').replace('__JS__', jsFile).replace('__CSS__', cssFile);
if (/<script>|<style|style=/.test(html)) throw new Error('index.html must carry no inline script or style (CSP)');
writeFileSync(join(out, 'index.html'), html);

const size = (file) => {
  const bytes = readFileSync(join(out, 'assets', file));
  return { raw: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length };
};
const kb = (n) => `${(n / 1024).toFixed(1)} KB`;
for (const file of [jsFile, cssFile]) {
  const s = size(file);
  console.log(`console: assets/${file} ${kb(s.raw)} raw, ${kb(s.gzip)} gzip`);
}
