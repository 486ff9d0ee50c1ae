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
  /** The values, longest first; rebuilt after a change. */
  #ordered: string[] | undefined = [];

  /** Secrets shorter than this are not registered: replacing them would mangle ordinary text. */
  static readonly MIN_LENGTH = 8;

  add(value: string): void {
    if (value.length < SecretScrubber.MIN_LENGTH || this.#values.has(value)) return;
    this.#values.add(value);
    this.#ordered = undefined;
  }

  delete(value: string): void {
    if (this.#values.delete(value)) this.#ordered = undefined;
  }

  scrub(text: string): string {
    // Longest first: a secret that contains another must go whole, not leave its tail around the shorter one's mask.
    this.#ordered ??= [...this.#values].sort((a, b) => b.length - a.length);
    let out = text;
    for (const v of this.#ordered) {
      if (out.includes(v)) out = out.split(v).join('[REDACTED]');
    }
    if (out.includes('llmp_')) out = out.replace(GATEWAY_KEY_SHAPE, 'llmp_$1_[REDACTED]');
    return out;
  }
}

const GATEWAY_KEY_SHAPE = /llmp_([0-9A-Za-z]{1,64})_[0-9A-Za-z]+/g;
