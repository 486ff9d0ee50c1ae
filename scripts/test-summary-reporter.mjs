// A node:test reporter (used beside `spec`) that writes one JSON summary line for
// scripts/run-tests.mjs: the runner's closing totals and each skipped test with its reason, so the
// runner can print a per-Node summary without scraping human-oriented output.
// Same event shapes on Node 20, 22 and 24 (https://nodejs.org/api/test.html#custom-reporters).

/** At most this many skipped tests are listed; the count is always exact. */
const MAX_SKIPS = 200;
/** The prefix test/helpers/node-version.ts gives a skip for a too-old Node. */
const NEEDS_NODE = 'needs Node >= ';

/** @param {AsyncIterable<{ type: string, data: any }>} source */
export default async function* summaryReporter(source) {
  /** @type {Record<string, number>} */
  const totals = {};
  /** @type {{ name: string, file?: string, reason: string, suite: boolean }[]} */
  const skipped = [];
  let skippedCount = 0;
  for await (const event of source) {
    if (event.type === 'test:pass' && event.data.skip !== undefined && event.data.skip !== false) {
      // A skipped describe() is one event of type 'suite'; node:test counts none of its tests.
      const suite = event.data.details?.type === 'suite';
      if (!suite) skippedCount++;
      const reason = event.data.skip === true ? '' : String(event.data.skip);
      // Skips for a too-old Node are always kept: the runner checks that some run covered each.
      if (skipped.length < MAX_SKIPS || reason.startsWith(NEEDS_NODE)) skipped.push({ name: event.data.name, file: event.data.file, reason, suite });
    } else if (event.type === 'test:diagnostic' && event.data.nesting === 0) {
      // The closing totals are top-level diagnostics: "tests 3715", "pass 3711", "duration_ms 301234.5".
      const m = /^(tests|suites|pass|fail|cancelled|skipped|todo|duration_ms) ([\d.]+)$/.exec(String(event.data.message));
      if (m) totals[m[1]] = Number(m[2]);
    }
  }
  yield `${JSON.stringify({ totals, skippedCount, skipped })}\n`;
}
