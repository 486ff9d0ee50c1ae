/**
 * Tokens a request may use, estimated before the provider reports its usage: the prompt as
 * body bytes / `bytesPerToken`, plus the completion cap the body names or `defaultMaxTokens`.
 * The body is not parsed: one linear scan keeps this cheap for large prompts, and it reads a cap
 * only where the API puts it (a prompt that mentions `"max_tokens": 1` does not lower the
 * estimate). The estimate is corrected by the reported usage when the request finishes.
 */

/**
 * Where request bodies put the completion cap, compiled once from the providers' declarations
 * (`completionCapFields`, merged by the composition root): keys at the top level, and keys one
 * level down by parent. Every provider's fields apply to every body, as one scan.
 */
export interface CompletionCaps {
  readonly topLevel: ReadonlySet<string>;
  readonly nested: ReadonlyMap<string, ReadonlySet<string>>;
}

/**
 * Compiles field names (`max_tokens`, `inferenceConfig.maxTokens`) into CompletionCaps; throws on
 * a name nested deeper than one level, which the scan does not track.
 */
export function completionCaps(fields: Iterable<string>): CompletionCaps {
  const topLevel = new Set<string>();
  const nested = new Map<string, Set<string>>();
  for (const field of fields) {
    const path = field.split('.');
    if (path.length === 1) topLevel.add(field);
    else if (path.length === 2) nested.set(path[0]!, (nested.get(path[0]!) ?? new Set()).add(path[1]!));
    else throw new Error(`completion cap field "${field}" is nested deeper than the estimate reads (one level)`);
  }
  return { topLevel, nested };
}

export interface EstimateOptions {
  bytes_per_token: number;
  default_max_tokens: number;
}

export function estimateTokens(body: Buffer | null, options: EstimateOptions, caps: CompletionCaps): number {
  const length = body?.length ?? 0;
  const prompt = Math.ceil(length / options.bytes_per_token);
  return prompt + (body === null ? options.default_max_tokens : (completionCap(body, caps) ?? options.default_max_tokens));
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJECT = 0x7b;
const OPEN_ARRAY = 0x5b;

/**
 * The completion cap a JSON body names where its API puts it, as `"field": <integer>` (the last
 * one, as JSON.parse would keep); undefined when none. Only the first two levels are tracked.
 */
export function completionCap(body: Buffer, caps: CompletionCaps): number | undefined {
  const containers: number[] = [];
  /** The key being read at object levels 1 and 2. */
  const keys: Array<string | undefined> = [undefined, undefined];
  let expectKey = false;
  let cap: number | undefined;
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c === QUOTE) {
      const end = stringEnd(body, i);
      const depth = containers.length;
      if (expectKey && depth <= 2) keys[depth - 1] = keyText(body, i, end);
      expectKey = false;
      i = end;
    } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      containers.push(c);
      expectKey = c === OPEN_OBJECT;
      if (containers.length <= 2) keys[containers.length - 1] = undefined;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      containers.pop();
      expectKey = false;
    } else if (c === 0x2c /* , */) {
      expectKey = containers[containers.length - 1] === OPEN_OBJECT;
    } else if (c === 0x3a /* : */) {
      const depth = containers.length;
      const named =
        (depth === 1 && caps.topLevel.has(keys[0] ?? '')) ||
        (depth === 2 && containers[0] === OPEN_OBJECT && containers[1] === OPEN_OBJECT && keys[0] !== undefined && caps.nested.get(keys[0])?.has(keys[1] ?? '') === true);
      if (named) cap = integerAt(body, i + 1) ?? cap;
    }
  }
  return cap;
}

/** The index of the quote that closes the string opening at `start` (or the body's end). */
function stringEnd(body: Buffer, start: number): number {
  for (let i = start + 1; i < body.length; i++) {
    const c = body[i]!;
    if (c === BACKSLASH) i++;
    else if (c === QUOTE) return i;
  }
  return body.length;
}

/** A key's text; escapes decoded as JSON does (`"max\u005ftokens"` is `max_tokens`). Long keys are no cap's name. */
function keyText(body: Buffer, start: number, end: number): string | undefined {
  if (end - start > 64) return undefined;
  const raw = body.toString('utf8', start + 1, end);
  if (!raw.includes('\\')) return raw;
  try {
    return JSON.parse(`"${raw}"`) as string;
  } catch {
    return undefined;
  }
}

/** An integer value starting at `from` (after the colon); undefined for anything else. */
function integerAt(body: Buffer, from: number): number | undefined {
  let i = from;
  while (i < body.length && isSpace(body[i]!)) i++;
  let n = 0;
  let digits = 0;
  while (i < body.length && body[i]! >= 0x30 && body[i]! <= 0x39 && digits < 10) {
    n = n * 10 + (body[i]! - 0x30);
    i++;
    digits++;
  }
  return digits > 0 ? n : undefined;
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}
