import { open as openFile } from 'node:fs/promises';

/**
 * The line decoder of journal segments (store/journal.ts): one JSON record per line, each line
 * bounded, read in 64 KiB chunks, so a damaged or hostile file costs linear time and bounded memory.
 */

/** A line of a segment, or why one was skipped: longer than the limit, or cut short at the end of the file (the writer died mid-write). */
export type JournalLine = { line: string; skipped?: undefined } | { line?: undefined; skipped: 'oversized' | 'torn' };

/** The lines of a segment file, each at most `maxLineBytes` (longer ones are skipped whole), read 64 KiB at a time. */
export async function* readJournalLines(path: string, maxLineBytes: number): AsyncGenerator<JournalLine> {
  const file = await openFile(path, 'r');
  try {
    const chunk = Buffer.allocUnsafe(64 * 1024);
    let parts: Buffer[] = [];
    let size = 0;
    let oversized = false;
    for (;;) {
      const { bytesRead } = await file.read(chunk, 0, chunk.length, null);
      if (bytesRead === 0) break;
      const data = chunk.subarray(0, bytesRead);
      for (let start = 0; ; ) {
        const nl = data.indexOf(0x0a, start);
        const piece = data.subarray(start, nl === -1 ? data.length : nl);
        if (!oversized) {
          if (size + piece.length > maxLineBytes) {
            oversized = true;
            parts = [];
            size = 0;
          } else if (piece.length > 0) {
            parts.push(Buffer.from(piece)); // a copy: `chunk` is reused
            size += piece.length;
          }
        }
        if (nl === -1) break;
        if (oversized) yield { skipped: 'oversized' };
        else if (size > 0) yield { line: Buffer.concat(parts, size).toString('utf8') };
        parts = [];
        size = 0;
        oversized = false;
        start = nl + 1;
      }
    }
    if (size > 0 || oversized) yield { skipped: 'torn' };
  } finally {
    await file.close();
  }
}
