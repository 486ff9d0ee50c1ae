import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { SecretScrubber } from '../observability/scrubber.js';
import { readSecretOnce } from '../secrets/read-once.js';

export interface WebhookOptions {
  /** `alerts.webhook_url`: a secret reference (the URL usually carries a token). */
  reference: string;
  baseDir: string;
  timeoutMs: number;
  attempts: number;
  retryDelayMs: number;
  logger: Logger;
  metrics: Metrics;
  /** Learns the URL, so no log line can carry it. */
  scrubber: SecretScrubber;
  /** Waits between attempts (tests); resolves early when `stop` aborts. */
  sleep?: (ms: number, stop?: AbortSignal) => Promise<void>;
}

/** Waits `ms`, or until `stop` aborts. */
function pause(ms: number, stop?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      stop?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    stop?.addEventListener('abort', done, { once: true });
  });
}

/** A status worth another attempt: the receiver is overloaded or failing, not refusing the payload. */
const retryable = (status: number) => status === 408 || status === 429 || status >= 500;

/**
 * POSTs alerts as JSON to `alerts.webhook_url`. The reference is read when the gateway starts
 * (a URL that cannot be read stops the start, like every other secret) and again before each
 * delivery, so a rotated URL is used without a restart; while it cannot be read the last good
 * URL is used. Each delivery makes at most `attempts` tries, `timeoutMs` each, waiting
 * `retryDelayMs`, then twice that, ... between them. Neither the URL nor a response body is
 * ever logged; the payload holds no secret (the caller's duty: ids and names only).
 *
 * @example
 * const hook = await AlertWebhook.open({ reference: '${env:ALERT_URL}', ... });
 * await hook.deliver({ alert: 'usage_anomaly', ... });
 */
export class AlertWebhook {
  readonly #o: WebhookOptions;
  #url: string;

  private constructor(options: WebhookOptions, url: string) {
    this.#o = options;
    this.#url = url;
  }

  static async open(options: WebhookOptions): Promise<AlertWebhook> {
    return new AlertWebhook(options, await AlertWebhook.#read(options));
  }

  static async #read(o: WebhookOptions): Promise<string> {
    const url = await readSecretOnce('alerts.webhook_url', o.reference, o.baseDir);
    o.scrubber.add(url);
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new Error(`alerts.webhook_url: ${o.reference} does not hold a URL`);
    }
    if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw new Error(`alerts.webhook_url: ${o.reference} must hold an http(s) URL`);
    return url;
  }

  /** Sends `payload`; resolves to whether the receiver accepted it (2xx). Never throws; `stop` cuts it short (shutdown). */
  async deliver(payload: Readonly<Record<string, unknown>>, stop?: AbortSignal): Promise<boolean> {
    const { logger, metrics } = this.#o;
    try {
      this.#url = await AlertWebhook.#read(this.#o);
    } catch (err) {
      logger.warn({ error: err instanceof Error ? err.message : String(err) }, 'alert webhook: cannot re-read the URL; using the last good one');
    }
    const body = JSON.stringify(payload);
    const sleep = this.#o.sleep ?? pause;
    let outcome = '';
    for (let attempt = 1; attempt <= this.#o.attempts && !stop?.aborted; attempt++) {
      if (attempt > 1) await sleep(this.#o.retryDelayMs * 2 ** (attempt - 2), stop);
      if (stop?.aborted) break;
      let retry: boolean;
      try {
        const res = await fetch(this.#url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'user-agent': 'llmproxy-alerts' },
          body,
          redirect: 'error',
          signal: stop ? AbortSignal.any([stop, AbortSignal.timeout(this.#o.timeoutMs)]) : AbortSignal.timeout(this.#o.timeoutMs),
        });
        await res.body?.cancel();
        if (res.ok) {
          metrics.alertDeliveries.inc({ result: 'delivered' });
          return true;
        }
        outcome = `HTTP ${res.status}`;
        retry = retryable(res.status);
      } catch (err) {
        // Only the error's kind: a fetch error's message may quote the URL.
        const code = ((err as { cause?: { code?: unknown } }).cause?.code as string | undefined) ?? 'network error';
        outcome = err instanceof Error && err.name === 'TimeoutError' ? 'timeout' : code;
        retry = true;
      }
      logger.warn({ attempt, attempts: this.#o.attempts, outcome }, 'alert webhook: delivery attempt failed');
      if (!retry) break;
    }
    metrics.alertDeliveries.inc({ result: 'failed' });
    logger.error({ outcome }, 'alert webhook: alert not delivered');
    return false;
  }
}
