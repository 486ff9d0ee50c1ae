/**
 * Removes secrets from text before it leaves the process (log lines, error messages).
 *
 * Two nets: every secret value the gateway has resolved (provider keys, tokens) is registered
 * here and replaced verbatim; and anything shaped like a gateway API key (`llmp_<id>_<secret>`)
 * keeps its public id and loses its secret, so a key pasted into a URL or a header we did not
 * expect still never reaches a log.
 */
export class SecretScrubber {
  readonly #values = new Set<string>();

  /** Secrets shorter than this are not registered: replacing them would mangle ordinary text. */
  static readonly MIN_LENGTH = 8;

  add(value: string): void {
    if (value.length >= SecretScrubber.MIN_LENGTH) this.#values.add(value);
  }

  delete(value: string): void {
    this.#values.delete(value);
  }

  scrub(text: string): string {
    let out = text;
    for (const v of this.#values) {
      if (out.includes(v)) out = out.split(v).join('[REDACTED]');
    }
    if (out.includes('llmp_')) out = out.replace(GATEWAY_KEY_SHAPE, 'llmp_$1_[REDACTED]');
    return out;
  }
}

const GATEWAY_KEY_SHAPE = /llmp_([0-9A-Za-z]{1,64})_[0-9A-Za-z]+/g;
