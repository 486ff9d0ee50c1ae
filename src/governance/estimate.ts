/**
 * Tokens a request may use, estimated before the provider reports its usage: the prompt as
 * body bytes / `bytesPerToken`, plus the completion cap the body names (OpenAI `max_tokens` /
 * `max_completion_tokens`, Responses `max_output_tokens`, Bedrock Converse `maxTokens`, Gemini
 * `maxOutputTokens`, watsonx `max_new_tokens`, Titan `maxTokenCount`) or `defaultMaxTokens`.
 * The body is not parsed: a byte search keeps this cheap for large prompts; the estimate is
 * corrected by the reported usage when the request finishes.
 */
const CAP_FIELDS = ['"max_tokens"', '"max_completion_tokens"', '"max_output_tokens"', '"maxTokens"', '"maxOutputTokens"', '"max_new_tokens"', '"maxTokenCount"'].map((f) =>
  Buffer.from(f),
);

export interface EstimateOptions {
  bytes_per_token: number;
  default_max_tokens: number;
}

export function estimateTokens(body: Buffer | null, options: EstimateOptions): number {
  const length = body?.length ?? 0;
  const prompt = Math.ceil(length / options.bytes_per_token);
  return prompt + (body === null ? options.default_max_tokens : (completionCap(body) ?? options.default_max_tokens));
}

/** The first completion cap found as `"field": <integer>`; undefined when none. */
export function completionCap(body: Buffer): number | undefined {
  for (const field of CAP_FIELDS) {
    let at = body.indexOf(field);
    while (at !== -1) {
      const n = integerAfterColon(body, at + field.length);
      if (n !== undefined) return n;
      at = body.indexOf(field, at + field.length);
    }
  }
  return undefined;
}

function integerAfterColon(body: Buffer, from: number): number | undefined {
  let i = from;
  while (i < body.length && isSpace(body[i]!)) i++;
  if (body[i] !== 0x3a /* : */) return undefined;
  i++;
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
