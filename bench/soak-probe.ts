import { monitorEventLoopDelay } from 'node:perf_hooks';

/**
 * Loaded into the gateway process by `npm run soak` (`node --import .../soak-probe.js
 * dist/src/cli/main.js serve`), so the figures are the gateway's own, not the load generator's.
 * On each `{ type: 'report' }` message from the soak (over the IPC channel) it answers with
 * RSS, heap used, event-loop delay since the last report (p50, p99, max), open handles and the
 * unhandled rejections and uncaught exceptions seen so far; the delay histogram is then reset.
 *
 * Rejections and exceptions are counted and written to stderr, and the gateway keeps running:
 * the soak reports them as unexpected errors and fails, with the rest of the run's figures.
 */

export interface ProbeReport {
  type: 'probe';
  rssBytes: number;
  heapUsedBytes: number;
  loopP50Ms: number;
  loopP99Ms: number;
  loopMaxMs: number;
  handles: number;
  unhandledRejections: number;
  uncaughtExceptions: number;
}

// Sampled every 1 ms: each figure includes that interval (an idle loop reads about 1 ms).
const delay = monitorEventLoopDelay({ resolution: 1 });
delay.enable();
let unhandledRejections = 0;
let uncaughtExceptions = 0;

process.on('unhandledRejection', (reason) => {
  unhandledRejections++;
  process.stderr.write(`soak-probe: unhandled rejection: ${reason instanceof Error ? (reason.stack ?? reason.message) : String(reason)}\n`);
});
process.on('uncaughtException', (err) => {
  uncaughtExceptions++;
  process.stderr.write(`soak-probe: uncaught exception: ${err.stack ?? err.message}\n`);
});

if (process.send) {
  process.on('message', (msg: unknown) => {
    if ((msg as { type?: unknown } | null)?.type !== 'report') return;
    const mem = process.memoryUsage();
    const ms = (ns: number) => Math.round(ns / 1e4) / 100;
    const report: ProbeReport = {
      type: 'probe',
      rssBytes: mem.rss,
      heapUsedBytes: mem.heapUsed,
      loopP50Ms: ms(delay.percentile(50)),
      loopP99Ms: ms(delay.percentile(99)),
      loopMaxMs: ms(delay.max),
      handles: process.getActiveResourcesInfo().length,
      unhandledRejections,
      uncaughtExceptions,
    };
    delay.reset();
    process.send!(report);
  });
  // The channel must not keep the gateway alive once it has shut down.
  process.channel?.unref();
}
