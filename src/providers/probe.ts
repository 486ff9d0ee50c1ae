import { GatewayError } from '../errors/gateway-error.js';
import type { Logger } from '../observability/logger.js';
import type { SecretScrubber } from '../observability/scrubber.js';
import type { Instance } from './instance.js';

/** How long one probe may take, the credential fetch included. */
export const PROBE_TIMEOUT_MS = 10_000;

/**
 * What a credential probe found, per instance: `ok` (the provider accepted the credential),
 * `rejected` (it answered 401 or 403), `unreachable` (no answer: refused, DNS, TLS, timeout),
 * `error` (another answer, or no credential to send), `none` (the provider has no probe).
 * Never carries the credential or the provider's error text (providers echo part of a key).
 *
 * @example
 * { status: 'rejected', http_status: 401, detail: 'the provider refused the credential (401)' }
 */
export interface ProbeResult {
  status: 'ok' | 'rejected' | 'unreachable' | 'error' | 'none';
  /** The provider's answer status, when it answered. */
  http_status: number | null;
  /** What happened, in the gateway's words (no provider text, no secret). */
  detail: string | null;
}

/**
 * Sends the instance's probe (ProviderParts.probe, else its provider's `probe`) through the
 * instance, signed and with its custom headers like any request, and classifies the answer.
 * A 401 reaches `Instance.send`, which invalidates the credential; the provider's body is never
 * read.
 *
 * @example
 * const result = await probeInstance(instance); // { status: 'ok', http_status: 200, detail: null }
 */
export async function probeInstance(instance: Instance, timeoutMs = PROBE_TIMEOUT_MS): Promise<ProbeResult> {
  const probe = instance.probe;
  if (probe === undefined) {
    const declared = instance.provider.probe;
    return { status: 'none', http_status: null, detail: declared !== undefined && 'none' in declared ? declared.none : 'the provider has no probe' };
  }
  const segments = probe.path.split('?', 1)[0]!.split('/').filter((s) => s !== '');
  let answer;
  let answered: number | null = null;
  try {
    const request = instance.transparent('GET', probe.path, segments, { accept: 'application/json', ...probe.headers }, null);
    answer = await instance.send(request, { signal: AbortSignal.timeout(timeoutMs), onAnswer: (_ms, status) => (answered = status) });
  } catch (err) {
    return failure(err, answered);
  }
  if (answer === undefined) return { status: 'unreachable', http_status: null, detail: `no answer within ${timeoutMs} ms` };
  // Drained, never read: an error body may quote the credential.
  answer.body.resume();
  const status = answer.statusCode;
  if (status >= 200 && status < 300) return { status: 'ok', http_status: status, detail: null };
  if (status === 401 || status === 403) return { status: 'rejected', http_status: status, detail: `the provider refused the credential (${status})` };
  return { status: 'error', http_status: status, detail: `the provider answered ${status} to GET ${segments.join('/')}` };
}

/** A probe that `send` ended with an error; `answered` is the provider's status when it answered (a 401). */
function failure(err: unknown, answered: number | null): ProbeResult {
  if (!(err instanceof GatewayError)) return { status: 'error', http_status: null, detail: 'the probe failed unexpectedly' };
  switch (err.code) {
    case 'upstream_credential_rejected':
      // Instance.send turns a 401 (`answered`), or a credential refused again after a refresh
      // (Bedrock's 403; the status is not passed on), into this error.
      return { status: 'rejected', http_status: answered, detail: `the provider refused the credential${answered === null ? '' : ` (${answered})`}` };
    case 'upstream_unreachable':
    case 'upstream_timeout':
      return { status: 'unreachable', http_status: null, detail: err.message };
    default:
      // No credential to send (credential_unavailable), a request the signer refused, ...
      return { status: 'error', http_status: null, detail: err.message };
  }
}

/** Where ProviderProbes reports. */
export interface ProviderProbesOptions {
  /** The instances to probe now (a config reload changes them). */
  instances: () => readonly Instance[];
  /** `readiness.probe_interval`: how long a result stands before the next round. */
  intervalMs: number;
  logger: Logger;
  /** Masks secret values in a result's detail. */
  scrubber: SecretScrubber;
  /** One probe's timeout (default PROBE_TIMEOUT_MS). */
  timeoutMs?: number;
}

/**
 * `/ready`'s provider probes (`readiness.probe_providers`): every instance is probed in the
 * background, one round at start and then every `intervalMs`, never per `/ready` call; `/ready`
 * reads the last result. Results are kept per Instance object, so instances a config reload
 * builds have none until a round probes them: asking for one then starts a round at once (one
 * round at a time). A change of result is logged, a rejected credential as a warning.
 *
 * @example
 * const probes = new ProviderProbes({ instances: () => directory.all, intervalMs: 60_000, logger, scrubber });
 * probes.start();
 * probes.result(instance); // undefined until the first round has probed it
 */
export class ProviderProbes {
  readonly #o: ProviderProbesOptions;
  readonly #results = new WeakMap<Instance, ProbeResult>();
  #timer: NodeJS.Timeout | undefined;
  #round: Promise<void> | undefined;

  constructor(options: ProviderProbesOptions) {
    this.#o = options;
  }

  start(): void {
    void this.run();
    this.#timer = setInterval(() => void this.run(), this.#o.intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** The instance's last result; undefined while none (a round is then started if none runs). */
  result(instance: Instance): ProbeResult | undefined {
    const result = this.#results.get(instance);
    if (result === undefined && this.#timer !== undefined) void this.run();
    return result;
  }

  /** One round over every instance; a call during a round joins it. */
  run(): Promise<void> {
    this.#round ??= this.#probeAll().finally(() => (this.#round = undefined));
    return this.#round;
  }

  async #probeAll(): Promise<void> {
    const { logger, scrubber } = this.#o;
    await Promise.all(
      this.#o.instances().map(async (instance) => {
        const found = await probeInstance(instance, this.#o.timeoutMs);
        const result = { ...found, detail: found.detail === null ? null : scrubber.scrub(found.detail) };
        const previous = this.#results.get(instance);
        this.#results.set(instance, result);
        if (previous?.status === result.status) return;
        const fields = { instance: instance.name, probe: result.status, http_status: result.http_status, detail: result.detail };
        if (result.status === 'rejected') logger.warn(fields, 'provider credential probe: the provider refused the credential; /ready fails');
        else if (result.status === 'ok' || result.status === 'none') logger.info(fields, 'provider credential probe');
        else logger.warn(fields, 'provider credential probe failed');
      }),
    );
  }
}
