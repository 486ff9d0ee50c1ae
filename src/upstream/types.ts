/**
 * A request on its way to a provider. The origin is not part of it: each instance owns one
 * connection pool bound to its configured origin, so nothing a client sends can pick the host.
 */
export interface UpstreamRequest {
  method: string;
  /** Path and query, starting with "/". */
  path: string;
  /** Lower-case names. */
  headers: Record<string, string>;
  body: Buffer | null;
  /** Which of the instance's upstreams: undefined for the main one (Bedrock: `control` for the control plane). */
  target?: string | undefined;
}

export interface Timeouts {
  connectMs: number;
  firstByteMs: number;
  idleMs: number;
}
