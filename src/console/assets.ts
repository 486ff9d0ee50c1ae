import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

/** One built file, held in memory with its gzip form (the whole console is a few hundred KB). */
export interface Asset {
  body: Buffer;
  gzip: Buffer | undefined;
  type: string;
  etag: string;
}

export interface ConsoleAssets {
  index: Asset;
  /** `assets/<name>` → file; names carry a content hash, so they are cached for good. */
  files: ReadonlyMap<string, Asset>;
}

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.map': 'application/json',
};

/** Where `npm run build` writes the console: `dist/console/` (this file runs as dist/src/console/assets.js). */
export const BUILT_CONSOLE_DIR = fileURLToPath(new URL('../../console/', import.meta.url));

function asset(path: string): Asset {
  const body = readFileSync(path);
  const type = TYPES[extname(path)] ?? 'application/octet-stream';
  const compressible = type.startsWith('text/') || type === 'image/svg+xml' || type === 'application/json';
  const gzip = compressible && body.length > 512 ? gzipSync(body, { level: 9 }) : undefined;
  const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
  return { body, gzip, type, etag };
}

/** Reads the built console once at start-up; undefined when it was not built (the routes then say so). */
export function loadConsoleAssets(dir: string = BUILT_CONSOLE_DIR): ConsoleAssets | undefined {
  const indexPath = join(dir, 'index.html');
  if (!existsSync(indexPath)) return undefined;
  const files = new Map<string, Asset>();
  const assetsDir = join(dir, 'assets');
  if (existsSync(assetsDir)) for (const name of readdirSync(assetsDir)) files.set(name, asset(join(assetsDir, name)));
  return { index: asset(indexPath), files };
}
