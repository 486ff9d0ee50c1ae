/**
 * Skips a suite on Node versions older than a client's `engines` asks for. Current releases of
 * the real third-party clients (the AI SDK, LangChain, …) need Node 22 or later while the gateway
 * itself still runs on Node 20.18+, so those suites skip on 20 and the Node 22/24 runs of
 * `npm test` cover them.
 *
 * @example
 * describe('Vercel AI SDK against the gateway', requiresNode(22), () => { … });
 */
export function requiresNode(major: number): { skip: string } | {} {
  const current = Number(process.versions.node.split('.')[0]);
  return current >= major ? {} : { skip: `needs Node ${major}+ (this is ${process.versions.node}); the Node 22/24 runs of npm test cover it` };
}
