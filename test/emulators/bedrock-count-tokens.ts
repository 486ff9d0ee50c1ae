/**
 * Bedrock Runtime's CountTokens for the emulator (bedrock.ts): `POST /model/{modelId}/count-tokens`
 * with `{"input": {"invokeModel": {"body": <base64>}} | {"converse": {"messages", "system"?, …}}}`,
 * answered `{"inputTokens": n}` — https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_CountTokens.html,
 * API_runtime_CountTokensInput.html (a union: exactly one member) and
 * API_runtime_InvokeModelTokensRequest.html (`body` is base64-encoded binary in JSON).
 */

/** The emulator's deterministic count: one token per four bytes of the input, at least one. */
export function emulatedTokenCount(bytes: number): number {
  return Math.max(1, Math.ceil(bytes / 4));
}

/** The count for a CountTokens request body, or the ValidationException message AWS would send. */
export function countTokens(body: Record<string, unknown>): { inputTokens: number } | { invalid: string } {
  const input = body['input'];
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    return { invalid: "1 validation error detected: Value null at 'input' failed to satisfy constraint: Member must not be null" };
  }
  const members = Object.keys(input);
  if (members.length !== 1 || (members[0] !== 'invokeModel' && members[0] !== 'converse')) {
    return { invalid: 'CountTokensInput is a union: exactly one of invokeModel or converse must be set.' };
  }
  const { invokeModel, converse } = input as { invokeModel?: unknown; converse?: unknown };
  return invokeModel !== undefined ? countInvokeModel(invokeModel) : countConverse(converse);
}

function countInvokeModel(request: unknown): { inputTokens: number } | { invalid: string } {
  const encoded = (request as { body?: unknown } | null)?.body;
  if (typeof encoded !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(encoded) || encoded.length % 4 !== 0) {
    return { invalid: "1 validation error detected: Value at 'input.invokeModel.body' failed to satisfy constraint: Member must be base64-encoded binary data" };
  }
  const bytes = Buffer.from(encoded, 'base64');
  let model: unknown;
  try {
    model = JSON.parse(bytes.toString('utf8'));
  } catch {
    return { invalid: 'Malformed input request, please reformat your input and try again.' };
  }
  const messages = (model as { messages?: unknown } | null)?.messages;
  if (!Array.isArray(messages) || messages.length === 0) {
    return { invalid: 'Malformed input request: #: required key [messages] not found, please reformat your input and try again.' };
  }
  return { inputTokens: emulatedTokenCount(bytes.length) };
}

function countConverse(request: unknown): { inputTokens: number } | { invalid: string } {
  const messages = (request as { messages?: unknown } | null)?.messages;
  if (!Array.isArray(messages) || messages.length === 0) {
    return { invalid: 'A conversation must start with a user message. Try again with a conversation that starts with a user message.' };
  }
  return { inputTokens: emulatedTokenCount(Buffer.byteLength(JSON.stringify(request))) };
}
