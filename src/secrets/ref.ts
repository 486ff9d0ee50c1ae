/**
 * Secret references: `${scheme:rest}` wherever a secret goes in config; `${NAME}` alone means
 * `${env:NAME}`. A reference is not itself secret, so it may appear in errors and logs.
 */
export interface SecretRef {
  scheme: string;
  /** Everything after `scheme:`; its meaning belongs to the store. */
  path: string;
  /** The reference as written, e.g. `${env:OPENAI_API_KEY}`. */
  raw: string;
}

const REF = /^\$\{(?:([a-z][a-z0-9-]*):)?([^}]+)\}$/;
const BARE_ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function parseSecretRef(text: string): SecretRef | undefined {
  const m = REF.exec(text.trim());
  if (!m) return undefined;
  const [, scheme, path] = m;
  if (scheme === undefined) {
    return BARE_ENV_NAME.test(path!) ? { scheme: 'env', path: path!, raw: text } : undefined;
  }
  return { scheme, path: path!, raw: text };
}

/**
 * A store's `validate` from its reference parser: the parser's message when it throws (stores'
 * parse errors name the reference and the expected form, never a value), else undefined.
 */
export function parseProblem(parse: () => unknown): string | undefined {
  try {
    parse();
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}
