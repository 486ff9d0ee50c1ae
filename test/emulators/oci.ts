import { createHash, createPublicKey, verify, type JsonWebKey, type KeyObject } from 'node:crypto';
import { Emulator, requestId, type Exchange } from './base.js';

/**
 * OCI Generative AI inference emulator (`/20231130/actions/...`). Checks what OCI checks before
 * any work, independently of the gateway's signer:
 * - `Authorization: Signature version="1",keyId,algorithm="rsa-sha256",headers,signature`: the
 *   keyId must be known; the signed headers must include `date (request-target) host` (and
 *   `content-length content-type x-content-sha256` for POST/PUT/PATCH); the signing string is
 *   rebuilt from the request as received and verified with the key's public key. Any failure is
 *   401 `NotAuthenticated` in OCI's error shape `{"code","message"}`.
 * - `keyId="ST$<jwt>"` (instance and resource principals' security tokens) is accepted once
 *   {@link OciEmulator.trustSessionTokens} names the token issuer: the token must verify and be
 *   unexpired, and the request must be signed with the session key in its `jwk` claim.
 * - `date` within ±5 minutes of now (401 otherwise), `x-content-sha256` and `content-length`
 *   matching the body (401 / 400).
 * - the body's `compartmentId` must be one the key may use (404 `NotAuthorizedOrNotFound`).
 *
 * Answers `actions/chat` as JSON or, with `chatRequest.isStream`, data-only SSE, in the GENERIC
 * format (`choices[].message.content[]`) or the COHERE one (`text`) per `chatRequest.apiFormat`,
 * which must match the model (`cohere.*` → COHERE); unknown chatRequest fields are 400, so
 * translation mistakes surface here. Model `emulator-no-finish` streams without a finishReason.
 * GENERIC tool calling: with `tools` and a last USER message mentioning "weather", the answer is
 * a `get_weather` FunctionCall (finishReason `tool_calls`; streamed as an id+name fragment then
 * argument fragments); with a last TOOL message, the text `Tool said: <its text>`. Tool
 * definitions, toolChoice, assistant toolCalls and TOOL toolCallId are shape-checked.
 * `actions/embedText` and `actions/generateText` get small fixed answers.
 */
export class OciEmulator extends Emulator {
  static readonly REPLY = ['Hello', ' from', ' the', ' OCI', ' emulator', '.'];
  readonly compartments: Set<string>;
  readonly #publicKeys: ReadonlyMap<string, KeyObject>;
  /** Allowed clock skew, ms. */
  skewMs = 5 * 60_000;

  constructor(keys: ReadonlyMap<string, KeyObject>, compartments: string[]) {
    super([...keys.keys()]);
    this.#publicKeys = keys;
    this.compartments = new Set(compartments);
  }

  protected override responseHeaders(): Record<string, string> {
    return { 'opc-request-id': requestId('').toUpperCase() };
  }

  /**
   * Makes the emulator accept security tokens (`keyId="ST$<jwt>"`) minted by `issuer` — the
   * auth service's federation endpoint (instance principal) or a resource principal's RPST:
   * the JWT's RS256 signature must verify with `issuerPublicKey`, `exp` must be in the future,
   * and the request must be signed with the key in the token's `jwk` claim (the session key).
   */
  trustSessionTokens(issuerPublicKey: KeyObject): void {
    this.#tokenIssuer = issuerPublicKey;
  }
  #tokenIssuer: KeyObject | undefined;
  /** Session tokens refused before their expiry (a revoked instance or a rotated signing key at OCI). */
  readonly revokedTokens = new Set<string>();

  protected authenticate(ex: Exchange) {
    return verifyOciRequest(ex, (keyId) => {
      if (keyId.startsWith('ST$')) {
        if (this.revokedTokens.has(keyId.slice(3))) return 'The security token is no longer valid.';
        return this.#tokenIssuer ? sessionKey(keyId.slice(3), this.#tokenIssuer) : undefined;
      }
      return this.acceptedKeys.has(keyId) ? this.#publicKeys.get(keyId) : undefined;
    }, this.skewMs);
  }

  protected async route(ex: Exchange): Promise<void> {
    const { method, path } = ex.record;
    const actions = ['/20231130/actions/chat', '/20231130/actions/embedText', '/20231130/actions/generateText'];
    if (method !== 'POST' || !actions.includes(path)) return this.json(ex, 404, ociError('NotAuthorizedOrNotFound', `${method} ${path} not found`));
    const body = ex.json;
    if (!body || typeof body !== 'object') return this.json(ex, 400, ociError('InvalidParameter', 'The request body is not a JSON object.'));
    const compartment = body['compartmentId'];
    if (typeof compartment !== 'string' || !this.compartments.has(compartment)) {
      return this.json(ex, 404, ociError('NotAuthorizedOrNotFound', 'Authorization failed or requested resource not found.'));
    }
    const serving = body['servingMode'] as { servingType?: unknown; modelId?: unknown } | undefined;
    if (serving?.servingType !== 'ON_DEMAND' || typeof serving.modelId !== 'string') return this.json(ex, 400, ociError('InvalidParameter', 'servingMode.modelId is required.'));
    const model = serving.modelId;
    if (path === '/20231130/actions/embedText') {
      const inputs = body['inputs'];
      if (!Array.isArray(inputs)) return this.json(ex, 400, ociError('InvalidParameter', 'inputs is required.'));
      return this.json(ex, 200, { id: requestId('emb-'), modelId: model, modelVersion: '3.0', embeddings: inputs.map(() => [0.1, -0.2, 0.3]) });
    }
    if (path === '/20231130/actions/generateText') {
      return this.json(ex, 200, { modelId: model, modelVersion: '1.0', inferenceResponse: { runtimeType: 'COHERE', generatedTexts: [{ id: requestId('gen-'), text: OciEmulator.REPLY.join('') }], timeCreated: new Date().toISOString() } });
    }
    const chat = body['chatRequest'] as Record<string, unknown> | undefined;
    const shape = chatShapeError(chat, model);
    if (shape) return this.json(ex, 400, ociError('InvalidParameter', shape));
    const format = chat!['apiFormat'] as 'GENERIC' | 'COHERE';
    if (chat!['isStream'] === true) return this.sse(ex, streamFrames(format, model, chat!));
    return this.json(ex, 200, { modelId: model, modelVersion: '1.0', chatResponse: format === 'GENERIC' ? genericResponse(chat!) : cohereResponse() });
  }
}

const GENERIC_FIELDS = new Set([
  'apiFormat', 'messages', 'reasoningEffort', 'verbosity', 'metadata', 'isStream', 'streamOptions', 'numGenerations', 'seed', 'isEcho', 'topK', 'topP',
  'temperature', 'frequencyPenalty', 'presencePenalty', 'stop', 'logProbs', 'maxTokens', 'maxCompletionTokens', 'logitBias', 'prediction',
  'responseFormat', 'toolChoice', 'isParallelToolCalls', 'tools', 'webSearchOptions', 'serviceTier',
]);
const COHERE_FIELDS = new Set([
  'apiFormat', 'message', 'chatHistory', 'documents', 'responseFormat', 'isSearchQueriesOnly', 'preambleOverride', 'isStream', 'streamOptions', 'maxTokens',
  'maxInputTokens', 'temperature', 'topK', 'topP', 'promptTruncation', 'frequencyPenalty', 'presencePenalty', 'seed', 'isEcho', 'tools', 'toolResults',
  'isForceSingleStep', 'stopSequences', 'isRawPrompting', 'citationQuality', 'safetyMode',
]);

function chatShapeError(chat: Record<string, unknown> | undefined, model: string): string | undefined {
  if (!chat || typeof chat !== 'object') return 'chatRequest is required.';
  const format = chat['apiFormat'];
  const expected = model.startsWith('cohere.') ? 'COHERE' : 'GENERIC';
  if (format !== expected) return `Model ${model} requires apiFormat ${expected}.`;
  const fields = format === 'GENERIC' ? GENERIC_FIELDS : COHERE_FIELDS;
  for (const key of Object.keys(chat)) if (!fields.has(key)) return `Unrecognized field chatRequest.${key}.`;
  if (format === 'COHERE') {
    if (typeof chat['message'] !== 'string') return 'chatRequest.message is required.';
    const history = chat['chatHistory'];
    if (history !== undefined && (!Array.isArray(history) || history.some((m) => !['USER', 'CHATBOT', 'SYSTEM', 'TOOL'].includes((m as { role?: string }).role ?? '')))) return 'chatRequest.chatHistory is invalid.';
    return undefined;
  }
  const messages = chat['messages'];
  if (!Array.isArray(messages) || messages.length === 0) return 'chatRequest.messages is required.';
  for (const [i, m] of messages.entries()) {
    const msg = m as { role?: unknown; content?: unknown; toolCalls?: unknown; toolCallId?: unknown };
    if (!['SYSTEM', 'USER', 'ASSISTANT', 'TOOL', 'DEVELOPER'].includes(String(msg.role))) return `chatRequest.messages[${i}].role is invalid.`;
    if (msg.toolCalls !== undefined) {
      if (msg.role !== 'ASSISTANT' || !Array.isArray(msg.toolCalls)) return `chatRequest.messages[${i}].toolCalls is invalid.`;
      for (const c of msg.toolCalls as Array<Record<string, unknown>>) {
        if (c['type'] !== 'FUNCTION' || typeof c['id'] !== 'string' || typeof c['name'] !== 'string' || typeof c['arguments'] !== 'string') return `chatRequest.messages[${i}].toolCalls has an invalid item.`;
      }
      if (msg.content === null || msg.content === undefined) continue;
    }
    if (msg.role === 'TOOL' && typeof msg.toolCallId !== 'string') return `chatRequest.messages[${i}].toolCallId is required.`;
    if (msg.role !== 'TOOL' && msg.toolCallId !== undefined) return `chatRequest.messages[${i}].toolCallId is only for TOOL messages.`;
    if (!Array.isArray(msg.content)) return `chatRequest.messages[${i}].content must be an array.`;
    for (const c of msg.content as Array<{ type?: unknown; text?: unknown; imageUrl?: { url?: unknown } }>) {
      if (c.type === 'TEXT' && typeof c.text === 'string') continue;
      if (c.type === 'IMAGE' && typeof c.imageUrl?.url === 'string') continue;
      return `chatRequest.messages[${i}].content has an invalid item.`;
    }
  }
  if (chat['stop'] !== undefined && !Array.isArray(chat['stop'])) return 'chatRequest.stop must be an array.';
  const tools = chat['tools'];
  if (tools !== undefined) {
    if (!Array.isArray(tools)) return 'chatRequest.tools must be an array.';
    for (const t of tools as Array<Record<string, unknown>>) {
      if (t['type'] !== 'FUNCTION' || typeof t['name'] !== 'string') return 'chatRequest.tools has an invalid item.';
      if (t['parameters'] !== undefined && (typeof t['parameters'] !== 'object' || t['parameters'] === null)) return 'chatRequest.tools[].parameters must be an object.';
    }
  }
  const choice = chat['toolChoice'] as { type?: unknown; name?: unknown } | undefined;
  if (choice !== undefined && !(['NONE', 'AUTO', 'REQUIRED'].includes(String(choice.type)) || (choice.type === 'FUNCTION' && typeof choice.name === 'string'))) return 'chatRequest.toolChoice is invalid.';
  return undefined;
}

/** What a GENERIC chat answers with: a weather tool call, the echo of a tool result, or the REPLY. */
type GenericAnswer = { kind: 'text'; parts: string[] } | { kind: 'tool'; id: string; name: string; args: string[] };

function genericAnswer(chat: Record<string, unknown>): GenericAnswer {
  const messages = chat['messages'] as Array<{ role: string; content: Array<{ text?: string }> | null }>;
  const last = messages[messages.length - 1]!;
  const text = (last.content ?? []).map((c) => c.text ?? '').join('');
  if (last.role === 'TOOL') return { kind: 'text', parts: ['Tool said: ', text] };
  const tools = chat['tools'] as Array<{ name: string }> | undefined;
  if (last.role === 'USER' && tools?.some((t) => t.name === 'get_weather') && /weather/i.test(text) && (chat['toolChoice'] as { type?: string } | undefined)?.type !== 'NONE') {
    return { kind: 'tool', id: `call_${requestId('').slice(-8)}`, name: 'get_weather', args: ['{"city":', '"Paris"}'] };
  }
  return { kind: 'text', parts: OciEmulator.REPLY };
}

const USAGE = { promptTokens: 12, completionTokens: OciEmulator.REPLY.length, totalTokens: 12 + OciEmulator.REPLY.length };

function genericResponse(chat: Record<string, unknown>) {
  const answer = genericAnswer(chat);
  if (answer.kind === 'tool') {
    const toolCalls = [{ type: 'FUNCTION', id: answer.id, name: answer.name, arguments: answer.args.join('') }];
    return { apiFormat: 'GENERIC', timeCreated: new Date().toISOString(), choices: [{ index: 0, message: { role: 'ASSISTANT', content: null, toolCalls }, finishReason: 'tool_calls' }], usage: USAGE };
  }
  if (answer.parts !== OciEmulator.REPLY) {
    return { apiFormat: 'GENERIC', timeCreated: new Date().toISOString(), choices: [{ index: 0, message: { role: 'ASSISTANT', content: [{ type: 'TEXT', text: answer.parts.join('') }] }, finishReason: 'stop' }], usage: USAGE };
  }
  const n = typeof chat['numGenerations'] === 'number' ? chat['numGenerations'] : 1;
  const choices = Array.from({ length: n }, (_, index) => ({
    index,
    message: { role: 'ASSISTANT', content: [{ type: 'TEXT', text: OciEmulator.REPLY.join('') }] },
    finishReason: 'stop',
  }));
  return { apiFormat: 'GENERIC', timeCreated: new Date().toISOString(), choices, usage: { ...USAGE, completionTokens: n * USAGE.completionTokens, totalTokens: 12 + n * USAGE.completionTokens } };
}

function cohereResponse() {
  return { apiFormat: 'COHERE', text: OciEmulator.REPLY.join(''), finishReason: 'COMPLETE', usage: USAGE };
}

function streamFrames(format: 'GENERIC' | 'COHERE', model: string, chat: Record<string, unknown>): string[] {
  const frame = (data: object) => `data: ${JSON.stringify(data)}\n\n`;
  const frames: string[] = [];
  if (format === 'GENERIC') {
    const answer = genericAnswer(chat);
    if (answer.kind === 'tool') {
      frames.push(frame({ index: 0, message: { role: 'ASSISTANT', toolCalls: [{ type: 'FUNCTION', id: answer.id, name: answer.name, arguments: '' }] } }));
      for (const part of answer.args) frames.push(frame({ index: 0, message: { role: 'ASSISTANT', toolCalls: [{ type: 'FUNCTION', arguments: part }] } }));
    } else {
      for (const part of answer.parts) frames.push(frame({ index: 0, message: { role: 'ASSISTANT', content: [{ type: 'TEXT', text: part }] }, pad: 'aaaa' }));
    }
    const finishReason = answer.kind === 'tool' ? 'tool_calls' : 'stop';
    if (model !== 'emulator-no-finish') frames.push(frame({ index: 0, message: { role: 'ASSISTANT', content: [{ type: 'TEXT', text: '' }] }, finishReason, pad: 'aaa' }));
    if ((chat['streamOptions'] as { isIncludeUsage?: unknown } | undefined)?.isIncludeUsage === true) frames.push(frame({ usage: USAGE }));
  } else {
    for (const part of OciEmulator.REPLY) frames.push(frame({ apiFormat: 'COHERE', text: part }));
    if (model !== 'emulator-no-finish') frames.push(frame({ apiFormat: 'COHERE', text: OciEmulator.REPLY.join(''), finishReason: 'COMPLETE' }));
  }
  return frames;
}

/** Why a request's signature is refused: the status and OCI's error body. */
export type SignatureRefusal = { status: number; body: { code: string; message: string } };

/**
 * Checks an OCI-signed request as OCI does, independently of the gateway's signer: the
 * `Signature` header, the signed header set, the signature over the signing string rebuilt from
 * the request as received, the `date` skew and the body digest. `keyFor` returns the public key
 * of a keyId, a refusal message (an expired token), or undefined for an unknown keyId.
 */
export function verifyOciRequest(ex: Exchange, keyFor: (keyId: string) => KeyObject | string | undefined, skewMs: number): SignatureRefusal | undefined {
  const denied = (message: string) => ({ status: 401, body: ociError('NotAuthenticated', message) });
  const auth = ex.req.headers.authorization;
  if (!auth?.startsWith('Signature ')) return denied('The required information to complete authentication was not provided.');
  const params = signatureParams(auth.slice('Signature '.length));
  if (!params || params['version'] !== '1' || params['algorithm'] !== 'rsa-sha256') return denied('Invalid signature header.');
  const publicKey = keyFor(params['keyId'] ?? '');
  if (typeof publicKey === 'string') return denied(publicKey);
  if (!publicKey) return denied('The required information to complete authentication was not provided or was incorrect.');
  const signed = (params['headers'] ?? 'date').split(' ');
  const method = ex.record.method.toUpperCase();
  const required = ['date', '(request-target)', 'host', ...(['POST', 'PUT', 'PATCH'].includes(method) ? ['content-length', 'content-type', 'x-content-sha256'] : [])];
  const missing = required.find((h) => !signed.includes(h));
  if (missing) return denied(`Missing required header to sign: ${missing}`);
  const lines: string[] = [];
  for (const h of signed) {
    if (h === '(request-target)') lines.push(`(request-target): ${method.toLowerCase()} ${ex.req.url ?? '/'}`);
    else {
      const value = ex.req.headers[h];
      if (typeof value !== 'string') return denied(`Signed header ${h} is absent`);
      lines.push(`${h}: ${value}`);
    }
  }
  if (!verify('sha256', Buffer.from(lines.join('\n')), publicKey, Buffer.from(params['signature'] ?? '', 'base64'))) {
    return denied('The required information to complete authentication was not provided or was incorrect.');
  }
  const date = Date.parse(String(ex.req.headers['date']));
  if (!Number.isFinite(date) || Math.abs(Date.now() - date) > skewMs) return denied('Date header is outside the allowed clock skew.');
  if (signed.includes('x-content-sha256')) {
    if (ex.req.headers['x-content-sha256'] !== createHash('sha256').update(ex.record.body).digest('base64')) {
      return denied('The x-content-sha256 header does not match the request body.');
    }
    if (ex.req.headers['content-length'] !== String(ex.record.body.length)) {
      return { status: 400, body: ociError('InvalidParameter', 'Content-Length does not match the request body.') };
    }
  }
  return undefined;
}

/**
 * The session public key of an OCI security token (a JWT, RS256) issued by `issuer`: its `jwk`
 * claim, once the signature verifies and `exp` has not passed; otherwise a refusal message.
 */
export function sessionKey(token: string, issuer: KeyObject): KeyObject | string | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  let header: { alg?: unknown };
  let claims: { exp?: unknown; jwk?: unknown };
  try {
    header = JSON.parse(Buffer.from(parts[0]!, 'base64url').toString('utf8')) as { alg?: unknown };
    claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as { exp?: unknown; jwk?: unknown };
  } catch {
    return undefined;
  }
  if (header.alg !== 'RS256' || !verify('sha256', Buffer.from(`${parts[0]}.${parts[1]}`), issuer, Buffer.from(parts[2]!, 'base64url'))) return undefined;
  if (typeof claims.exp !== 'number' || claims.exp * 1000 <= Date.now()) return 'The security token has expired.';
  try {
    return createPublicKey({ key: claims.jwk as JsonWebKey, format: 'jwk' });
  } catch {
    return undefined;
  }
}

/** The parameters of a draft-cavage `Signature` header: `name="value"` pairs, comma-separated. */
export function signatureParams(text: string): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < text.length) {
    const eq = text.indexOf('="', i);
    if (eq === -1) return undefined;
    const end = text.indexOf('"', eq + 2);
    if (end === -1) return undefined;
    out[text.slice(i, eq).trim()] = text.slice(eq + 2, end);
    i = end + 1;
    if (text[i] === ',') i++;
  }
  return out;
}

/** OCI's error body. */
export function ociError(code: string, message: string) {
  return { code, message };
}
