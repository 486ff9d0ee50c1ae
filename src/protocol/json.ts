import { GatewayError } from '../errors/gateway-error.js';

/** A provider's JSON answer, parsed; a body that is not JSON is the provider's fault: 502. */
export function parseProviderJson<T>(body: Buffer, provider: string): T {
  try {
    return JSON.parse(body.toString('utf8')) as T;
  } catch (err) {
    throw new GatewayError('upstream_error', `${provider} answered with a body that is not JSON`, { cause: err });
  }
}
