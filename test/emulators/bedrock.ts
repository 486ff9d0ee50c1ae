import { randomBytes, randomUUID } from 'node:crypto';
import { EventStreamCodec, type MessageHeaders } from '@smithy/eventstream-codec';
import { fromUtf8, toUtf8 } from '@smithy/util-utf8';
import { type AwsAccounts, type SigV4FailureReason, SIGNATURE_MISMATCH_MESSAGE, wireRequest } from './aws-accounts.js';
import { Emulator, type Exchange, type RecordedRequest } from './base.js';
import { BEDROCK_ANTHROPIC_VERSIONS } from './bedrock-anthropic-invoke.js';
import { countTokens } from './bedrock-count-tokens.js';
import { openAICompatibleAnswer, openAICompatibleRoute } from './bedrock-openai.js';
import { toolToCall as anthropicToolToCall } from './anthropic.js';
import { type CacheUsage, cacheControlError, claudeAnswer, PromptCache, thinkingEnabled, thinkingError } from './anthropic-features.js';
import { InferenceProfiles, ProfileRefusal } from './bedrock-inference-profiles.js';
import { claudeCodeTurn, type ScriptedTurn } from './claude-script.js';

export interface BedrockOptions {
  accounts: AwsAccounts;
  region?: string;
  bearerKeys?: string[];
  /**
   * The host emulated: `runtime` (bedrock-runtime, SigV4 service `bedrock`; the default) or
   * `mantle` (bedrock-mantle, SigV4 service `bedrock-mantle`, which serves only the
   * OpenAI-compatible routes of bedrock-openai.ts).
   */
  host?: 'runtime' | 'mantle';
}

/** Who authenticated a request. */
export type VerifiedCaller =
  | { scheme: 'sigv4'; kind: 'user'; accessKeyId: string; arn: string; userName: string }
  | { scheme: 'sigv4'; kind: 'session'; accessKeyId: string; arn: string; roleArn: string; sessionName: string; issuedBy: string }
  | { scheme: 'bearer'; apiKey: string };

export interface BedrockRecordedRequest extends RecordedRequest {
  /** Set once authentication passed. */
  caller?: VerifiedCaller;
  /** The AWS error code the request was refused with at authentication. */
  authError?: string;
  /** The model id from the path, decoded; for the OpenAI-compatible routes, the body's `model`. */
  modelId?: string;
}

export type StreamExceptionType =
  | 'internalServerException' | 'modelStreamErrorException' | 'validationException'
  | 'throttlingException' | 'serviceUnavailableException' | 'modelTimeoutException';

interface FoundationModel {
  modelId: string;
  modelName: string;
  providerName: string;
  inputModalities: string[];
  outputModalities: string[];
  responseStreamingSupported: boolean;
  inferenceTypesSupported: Array<'ON_DEMAND' | 'INFERENCE_PROFILE'>;
  lifecycle: 'ACTIVE' | 'LEGACY';
  family: 'anthropic' | 'titan-embed';
}

const MODELS: readonly FoundationModel[] = [
  { modelId: 'anthropic.claude-3-5-sonnet-20241022-v2:0', modelName: 'Claude 3.5 Sonnet v2', providerName: 'Anthropic', inputModalities: ['TEXT', 'IMAGE'], outputModalities: ['TEXT'], responseStreamingSupported: true, inferenceTypesSupported: ['INFERENCE_PROFILE'], lifecycle: 'ACTIVE', family: 'anthropic' },
  { modelId: 'anthropic.claude-3-haiku-20240307-v1:0', modelName: 'Claude 3 Haiku', providerName: 'Anthropic', inputModalities: ['TEXT', 'IMAGE'], outputModalities: ['TEXT'], responseStreamingSupported: true, inferenceTypesSupported: ['ON_DEMAND', 'INFERENCE_PROFILE'], lifecycle: 'ACTIVE', family: 'anthropic' },
  { modelId: 'anthropic.claude-v2:1', modelName: 'Claude', providerName: 'Anthropic', inputModalities: ['TEXT'], outputModalities: ['TEXT'], responseStreamingSupported: true, inferenceTypesSupported: ['ON_DEMAND'], lifecycle: 'LEGACY', family: 'anthropic' },
  { modelId: 'amazon.titan-embed-text-v2:0', modelName: 'Titan Text Embeddings V2', providerName: 'Amazon', inputModalities: ['TEXT'], outputModalities: ['EMBEDDING'], responseStreamingSupported: false, inferenceTypesSupported: ['ON_DEMAND'], lifecycle: 'ACTIVE', family: 'titan-embed' },
];

/**
 * An error answer in Bedrock's shape. `namespace` is the one `x-amzn-errortype` names:
 * authentication (and unknown operations) are answered by the coral framework, the rest by
 * Bedrock itself. `messageKey` is `Message` for API-key failures, as AWS writes them.
 */
export class BedrockError {
  constructor(
    readonly status: number,
    readonly type: string,
    readonly message: string,
    readonly namespace: 'coral' | 'bedrock' = 'bedrock',
    readonly messageKey: 'message' | 'Message' = 'message',
  ) {}

  /** `x-amzn-errortype`, e.g. `ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/` */
  get errorType(): string {
    return errorType(this.type, this.namespace);
  }
}

/** Service errors {@link BedrockEmulator.injectError} knows, with AWS's status and message. */
export const SERVICE_ERRORS = {
  ThrottlingException: { status: 429, message: 'Too many requests, please wait before trying again.' },
  ServiceUnavailableException: { status: 503, message: 'Bedrock is unable to process your request.' },
  InternalServerException: { status: 500, message: 'The server encountered an internal error while processing the request.' },
  ModelTimeoutException: { status: 408, message: 'Model has timed out in processing the request. Try your request again.' },
  ModelNotReadyException: { status: 429, message: 'Model is not ready to serve inference requests. The AWS SDK will automatically retry the operation up to 5 times.' },
  ServiceQuotaExceededException: { status: 400, message: "Your request exceeds the service quota for your account. You can view your quotas at Viewing service quotas. You can resubmit your request later." },
  AccessDeniedException: { status: 403, message: "You don't have access to the model with the specified model ID." },
  ModelErrorException: { status: 424, message: 'The request failed due to an error while processing the model.' },
} as const;

const SIGV4_ERRORS: Record<SigV4FailureReason, string> = {
  missing: 'MissingAuthenticationTokenException',
  incomplete: 'IncompleteSignatureException',
  'invalid-signature': 'InvalidSignatureException',
  'invalid-token': 'UnrecognizedClientException',
  'expired-token': 'ExpiredTokenException',
};

const INVALID_MODEL = 'The provided model identifier is invalid.';
const NO_COUNT_TOKENS = "The provided model doesn't support counting tokens.";
const MALFORMED = 'Malformed input request, please reformat your input and try again.';
const PADDING = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

/**
 * Amazon Bedrock emulator: Runtime (`/model/{modelId}/invoke`, `invoke-with-response-stream`,
 * `converse`, `converse-stream`, `count-tokens`, and the OpenAI-compatible
 * `/openai/v1/chat/completions` of bedrock-openai.ts) and the control plane's
 * `/foundation-models` and `/inference-profiles` (bedrock-inference-profiles.ts) on one loopback
 * port; or, with `host: 'mantle'`, the bedrock-mantle host (Responses and Chat Completions,
 * SigV4 service `bedrock-mantle`). It
 * authenticates as AWS does, through the shared {@link AwsAccounts}:
 *
 * - SigV4 (service `bedrock`, the emulator's region), the signature recomputed with
 *   `@smithy/signature-v4` over the request exactly as received — so a gateway that signs the
 *   decoded path instead of the wire path (`%3A` → `%253A`) gets `InvalidSignatureException`;
 *   unknown or revoked keys and bad session tokens get `UnrecognizedClientException`, expired
 *   temporary credentials `ExpiredTokenException`, a missing header `MissingAuthenticationTokenException`.
 * - Bedrock API keys: `Authorization: Bearer <key>` for keys in {@link acceptedBearerKeys}.
 *
 * Errors are JSON `{"message": …}` with `x-amzn-errortype: <Name>:http://internal.amazon.com/coral/…/`
 * and a UUID `x-amzn-requestid`. Each recorded request carries the {@link VerifiedCaller} that
 * signed it (`bedrock.last.caller`), or the `authError` it was refused with.
 *
 * Streams are `application/vnd.amazon.eventstream` frames (`:event-type`, `:content-type`,
 * `:message-type`) and honour `behaviour` (first-byte delay, chunk delay, stall); set
 * {@link streamException} to end a stream with an exception frame instead.
 *
 * @example
 * const accounts = new AwsAccounts();
 * const user = accounts.addUser('gateway');
 * const bedrock = await new BedrockEmulator({ accounts, region: 'us-east-1', bearerKeys: ['bedrock-api-key-1'] }).start();
 * // … a client signs with user.accessKeyId / user.secretAccessKey, endpoint bedrock.url …
 * assert.deepEqual(bedrock.last.caller, { scheme: 'sigv4', kind: 'user', accessKeyId: user.accessKeyId, arn: user.arn, userName: 'gateway' });
 * bedrock.injectError('ThrottlingException');             // the next request gets a 429
 *
 * Note: the base class runs `authenticate` synchronously, so the signature itself (computed
 * asynchronously) is checked just before the answer is written: a request with a bad signature
 * still consumes a pending `inject()`ion, and gets the 403.
 */
export class BedrockEmulator extends Emulator {
  static readonly REPLY = ['Hello', ' from', ' the', ' Bedrock', ' emulator', '.'];
  declare readonly requests: BedrockRecordedRequest[];
  readonly accounts: AwsAccounts;
  readonly region: string;
  /** The host emulated (BedrockOptions.host). */
  readonly host: 'runtime' | 'mantle';
  /** Authentication failures by AWS error code. */
  authFailures: Record<string, number> = {};
  /** When set, ConverseStream answers send this many text deltas instead of {@link REPLY} (benchmarks). */
  streamDeltas: number | undefined;
  /** When set, streams send this many events, then this exception frame, then end. */
  streamException: { afterEvents: number; type: StreamExceptionType; message: string } | undefined;
  readonly #codec = new EventStreamCodec(toUtf8, fromUtf8);
  readonly #pendingSignature = new WeakMap<RecordedRequest, Promise<BedrockError | undefined>>();
  /** Claude's prompt cache for InvokeModel (anthropic-features.ts); cleared by reset(). */
  readonly promptCache = new PromptCache();
  /** The account's inference profiles: a system-defined one per geography and model that has them, one application profile. */
  readonly profiles: InferenceProfiles;

  constructor(options: BedrockOptions) {
    super(options.bearerKeys ?? []);
    this.accounts = options.accounts;
    this.region = options.region ?? 'us-east-1';
    this.host = options.host ?? 'runtime';
    const profiled = MODELS.filter((m) => m.inferenceTypesSupported.includes('INFERENCE_PROFILE'));
    this.profiles = new InferenceProfiles(this.region, this.accounts.accountId, geography(this.region), profiled);
  }

  /** Bedrock API keys accepted as `Authorization: Bearer`; replace the contents to rotate. */
  get acceptedBearerKeys(): Set<string> {
    return this.acceptedKeys;
  }

  /** Requests refused with InvalidSignatureException (skew, scope or mismatch). */
  get signatureFailures(): number {
    return this.authFailures['InvalidSignatureException'] ?? 0;
  }

  override get last(): BedrockRecordedRequest {
    return super.last as BedrockRecordedRequest;
  }

  override reset(): void {
    super.reset();
    this.authFailures = {};
    this.streamException = undefined;
    this.promptCache.clear();
  }

  /** The next `times` authenticated requests get this AWS error (status and message as AWS sends them). */
  injectError(type: keyof typeof SERVICE_ERRORS, options: { message?: string; times?: number } = {}): void {
    const known = SERVICE_ERRORS[type];
    this.inject({ status: known.status, body: { message: options.message ?? known.message }, headers: { 'x-amzn-errortype': errorType(type, 'bedrock') }, times: options.times ?? 1 });
  }

  protected override responseHeaders(): Record<string, string> {
    // The SDK corrects its clock from `Date` after a skew error, as it does against AWS.
    return { 'x-amzn-requestid': randomUUID(), date: new Date(this.accounts.now()).toUTCString() };
  }

  protected authenticate(ex: Exchange) {
    const record = ex.record as BedrockRecordedRequest;
    const authorization = ex.req.headers.authorization;
    if (authorization?.startsWith('Bearer ')) {
      const apiKey = authorization.slice(7);
      if (!this.acceptedKeys.has(apiKey)) {
        return this.#refuse(record, new BedrockError(403, 'AccessDeniedException', 'Authentication failed: Please make sure your API Key is valid.', 'coral', 'Message'));
      }
      record.caller = { scheme: 'bearer', apiKey };
      return undefined;
    }
    const verdict = this.accounts.authenticateSigV4(wireRequest(record, ex.req.headersDistinct), { region: this.region, service: this.host === 'mantle' ? 'bedrock-mantle' : 'bedrock' });
    if (!verdict.ok) return this.#refuse(record, new BedrockError(403, SIGV4_ERRORS[verdict.reason], verdict.message, 'coral'));
    const p = verdict.principal;
    this.#pendingSignature.set(record, verdict.signatureMatches.then((matches) => {
      if (!matches) return this.#refuse(record, new BedrockError(403, 'InvalidSignatureException', SIGNATURE_MISMATCH_MESSAGE, 'coral')).body;
      record.caller = p.kind === 'user'
        ? { scheme: 'sigv4', kind: 'user', accessKeyId: verdict.accessKeyId, arn: p.arn, userName: p.name }
        : { scheme: 'sigv4', kind: 'session', accessKeyId: verdict.accessKeyId, arn: p.assumedRoleArn, roleArn: p.roleArn, sessionName: p.sessionName, issuedBy: p.issuedBy };
      return undefined;
    }));
    return undefined;
  }

  /** Writes a JSON answer, unless the signature (checked asynchronously) turned out wrong. */
  protected override async json(ex: Exchange, status: number, body: unknown, headers: Record<string, string> = {}): Promise<void> {
    const refused = await this.#pendingSignature.get(ex.record);
    const answer = refused ?? body;
    if (answer instanceof BedrockError) {
      return super.json(ex, answer.status, { [answer.messageKey]: answer.message }, { 'x-amzn-errortype': answer.errorType });
    }
    return super.json(ex, status, answer, headers);
  }

  protected async route(ex: Exchange): Promise<void> {
    const refused = await this.#pendingSignature.get(ex.record);
    if (refused) return this.json(ex, refused.status, refused);
    const { method, path } = ex.record;
    const openai = openAICompatibleRoute(this.host, method, path);
    if (openai) return this.#openAICompatible(ex, openai);
    if (this.host === 'mantle') return this.json(ex, 404, { error: { message: `Invalid URL (${method} ${path})`, type: 'invalid_request_error', param: null, code: null } });
    const segments = path.split('/');
    if (method === 'GET' && path === '/foundation-models') return this.#listModels(ex);
    if (method === 'GET' && segments.length === 3 && segments[1] === 'foundation-models') return this.#getModel(ex, segments[2]!);
    if (method === 'GET' && path === '/inference-profiles') return this.#answer(ex, this.profiles.list(new URLSearchParams(ex.record.query)));
    if (method === 'GET' && segments.length === 3 && segments[1] === 'inference-profiles') return this.#answer(ex, this.profiles.get(decode(segments[2]!)));
    if (method === 'POST' && segments.length === 4 && segments[1] === 'model') {
      const op = segments[3]!;
      if (op === 'count-tokens') return this.#countTokens(ex, segments[2]!);
      if (op === 'invoke' || op === 'invoke-with-response-stream' || op === 'converse' || op === 'converse-stream') return this.#runtime(ex, segments[2]!, op);
    }
    return this.json(ex, 404, new BedrockError(404, 'UnknownOperationException', `Unknown operation ${method} ${path}`, 'coral'));
  }

  /** The OpenAI-compatible routes (bedrock-openai.ts); the body's `model` is recorded as `modelId`. */
  async #openAICompatible(ex: Exchange, route: 'chat' | 'responses' | 'models'): Promise<void> {
    const body = route === 'models' ? undefined : parseJson(ex.record.body);
    const model = body?.['model'];
    if (typeof model === 'string') (ex.record as BedrockRecordedRequest).modelId = model;
    const answer = openAICompatibleAnswer(this.host, route, ex.record.path, body);
    if (answer.kind === 'json') return this.json(ex, answer.status, answer.body);
    return this.sse(ex, answer.frames);
  }

  async #runtime(ex: Exchange, rawModel: string, op: 'invoke' | 'invoke-with-response-stream' | 'converse' | 'converse-stream'): Promise<void> {
    const started = Date.now();
    const resolved = this.#resolveModel(rawModel);
    if (resolved instanceof BedrockError) return this.json(ex, resolved.status, resolved);
    const model = resolved;
    (ex.record as BedrockRecordedRequest).modelId = decode(rawModel);
    const body = parseJson(ex.record.body);
    if (body === undefined) return this.json(ex, 400, new BedrockError(400, 'ValidationException', MALFORMED));
    const streaming = op.endsWith('stream');
    if (streaming && !model.responseStreamingSupported) return this.json(ex, 400, new BedrockError(400, 'ValidationException', 'The model is unsupported for streaming.'));

    if (op === 'converse' || op === 'converse-stream') {
      if (model.family !== 'anthropic') {
        return this.json(ex, 400, new BedrockError(400, 'ValidationException', "This action doesn't support the model that you provided. Try again with a supported text or chat model."));
      }
      const messages = body['messages'];
      if (!Array.isArray(messages) || messages.length === 0) {
        return this.json(ex, 400, new BedrockError(400, 'ValidationException', 'A conversation must start with a user message. Try again with a conversation that starts with a user message.'));
      }
      const inputTokens = tokenEstimate(messages) + tokenEstimate(body['system'] ?? []);
      const tool = converseToolToCall(body);
      if (tool) return this.#converseToolUse(ex, op === 'converse-stream', tool, inputTokens);
      return op === 'converse' ? this.#converse(ex, inputTokens, started) : this.#converseStream(ex, inputTokens, started);
    }

    if (model.family === 'titan-embed') return this.#titanEmbedding(ex, body, started);
    const invalid = anthropicBodyError(body);
    if (invalid) return this.json(ex, 400, new BedrockError(400, 'ValidationException', invalid));
    const inputTokens = tokenEstimate(body['messages']) + tokenEstimate(body['system'] ?? '');
    const feature = thinkingError(body) ?? cacheControlError(body);
    if (feature) return this.json(ex, 400, new BedrockError(400, 'ValidationException', feature));
    const anthropicModel = model.modelId.replace(/^anthropic\./, '').replace(/-v\d+(:\d+)?$/, '');
    const scripted = claudeCodeTurn(body, anthropicModel);
    if (scripted) return this.#invokeScripted(ex, op === 'invoke-with-response-stream', scripted, started);
    const answer = claudeAnswer({
      id: `msg_bdrk_${randomBytes(12).toString('base64url')}`,
      model: anthropicModel,
      reply: BedrockEmulator.REPLY,
      usage: this.promptCache.usage(body, inputTokens),
      thinking: thinkingEnabled(body),
      tool: anthropicToolToCall(body),
    });
    return op === 'invoke' ? this.#invokeAnthropic(ex, answer, started) : this.#invokeAnthropicStream(ex, answer, started);
  }

  /**
   * Accepts foundation model ids, inference profile ids (`us.` + model id) and their ARNs —
   * all percent-encoded in the path (`:` as `%3A`, `/` as `%2F`).
   */
  #resolveModel(rawModel: string): FoundationModel | BedrockError {
    const invalid = new BedrockError(400, 'ValidationException', INVALID_MODEL);
    let id: string;
    try {
      id = decodeURIComponent(rawModel);
    } catch {
      return invalid;
    }
    // arn:aws:bedrock:<region>::foundation-model/<id>, arn:aws:bedrock:<region>:<account>:inference-profile/<profile id>
    const arn = /^arn:aws:bedrock:([a-z0-9-]+):(\d{12})?:(foundation-model|inference-profile)\/(.+)$/.exec(id);
    if (arn) {
      const profile = arn[3] === 'inference-profile';
      if (arn[1] !== this.region || (profile ? arn[2] !== this.accounts.accountId : arn[2] !== undefined)) return invalid;
      id = arn[4]!;
      if (profile !== /^(us|eu|apac|global)\./.test(id)) return invalid;
    }
    const geo = /^(us|eu|apac|global)\.(.+)$/.exec(id);
    const model = MODELS.find((m) => m.modelId === (geo ? geo[2] : id));
    if (!model) return invalid;
    if (geo) {
      if (geo[1] !== 'global' && geo[1] !== geography(this.region)) return invalid;
      if (!model.inferenceTypesSupported.includes('INFERENCE_PROFILE')) return invalid;
      return model;
    }
    if (model.lifecycle === 'LEGACY') {
      return new BedrockError(404, 'ResourceNotFoundException', 'Access denied. This Model is marked by provider as Legacy and you have not been actively using the model in the last 15 days. Please upgrade to an active model on Amazon Bedrock');
    }
    if (!model.inferenceTypesSupported.includes('ON_DEMAND')) {
      return new BedrockError(400, 'ValidationException', `Invocation of model ID ${model.modelId} with on-demand throughput isn’t supported. Retry your request with the ID or ARN of an inference profile that contains this model.`);
    }
    return model;
  }

  async #converse(ex: Exchange, inputTokens: number, started: number): Promise<void> {
    const outputTokens = BedrockEmulator.REPLY.length;
    return this.json(ex, 200, {
      output: { message: { role: 'assistant', content: [{ text: BedrockEmulator.REPLY.join('') }] } },
      stopReason: 'end_turn',
      usage: { inputTokens, outputTokens, totalTokens: inputTokens + outputTokens },
      metrics: { latencyMs: latency(started) },
    });
  }

  /** The model calls `name` with `{"location":"Paris"}` (a toolUse block; streamed as input fragments). */
  async #converseToolUse(ex: Exchange, stream: boolean, name: string, inputTokens: number): Promise<void> {
    const toolUseId = `tooluse_${randomUUID().replace(/-/g, '').slice(0, 22)}`;
    const usage = { inputTokens, outputTokens: 9, totalTokens: inputTokens + 9 };
    if (!stream) {
      return this.json(ex, 200, {
        output: { message: { role: 'assistant', content: [{ toolUse: { toolUseId, name, input: { location: 'Paris' } } }] } },
        stopReason: 'tool_use', usage, metrics: { latencyMs: 5 },
      });
    }
    return this.#eventStream(ex, () => [
      this.#event('messageStart', { p: padding(), role: 'assistant' }),
      this.#event('contentBlockStart', { contentBlockIndex: 0, start: { toolUse: { toolUseId, name } }, p: padding() }),
      ...['{"loca', 'tion": "Pa', 'ris"}'].map((input) => this.#event('contentBlockDelta', { contentBlockIndex: 0, delta: { toolUse: { input } }, p: padding() })),
      this.#event('contentBlockStop', { contentBlockIndex: 0, p: padding() }),
      this.#event('messageStop', { p: padding(), stopReason: 'tool_use' }),
      this.#event('metadata', { metrics: { latencyMs: 5 }, p: padding(), usage }),
    ]);
  }

  async #converseStream(ex: Exchange, inputTokens: number, started: number): Promise<void> {
    const deltas = this.streamDeltas === undefined ? BedrockEmulator.REPLY : Array.from({ length: this.streamDeltas }, (_, i) => `tok${i} `);
    const outputTokens = deltas.length;
    return this.#eventStream(ex, () => [
      this.#event('messageStart', { p: padding(), role: 'assistant' }),
      ...deltas.map((text) => this.#event('contentBlockDelta', { contentBlockIndex: 0, delta: { text }, p: padding() })),
      this.#event('contentBlockStop', { contentBlockIndex: 0, p: padding() }),
      this.#event('messageStop', { p: padding(), stopReason: 'end_turn' }),
      this.#event('metadata', { metrics: { latencyMs: latency(started) }, p: padding(), usage: { inputTokens, outputTokens, totalTokens: inputTokens + outputTokens } }),
    ]);
  }

  /** InvokeModel on Claude: the Messages answer (anthropic-features.ts), Bedrock's token-count headers. */
  async #invokeAnthropic(ex: Exchange, answer: ReturnType<typeof claudeAnswer>, started: number): Promise<void> {
    const usage = answer.json['usage'] as CacheUsage & { output_tokens: number };
    return this.json(ex, 200, answer.json, invocationHeaders(usage.input_tokens, usage.output_tokens, started));
  }

  /**
   * InvokeModelWithResponseStream on Claude: each Messages event in a `chunk` (`bytes`, base64),
   * without `ping`, the last carrying `amazon-bedrock-invocationMetrics`.
   */
  async #invokeAnthropicStream(ex: Exchange, answer: ReturnType<typeof claudeAnswer>, started: number): Promise<void> {
    const usage = answer.json['usage'] as CacheUsage & { output_tokens: number };
    const chunk = (event: object) => this.#event('chunk', { bytes: Buffer.from(JSON.stringify(event)).toString('base64'), p: padding() });
    const events = answer.events.filter((e) => e['type'] !== 'ping');
    return this.#eventStream(ex, (firstByteAt) => events.map((e) => {
      if (e['type'] !== 'message_stop') return chunk(e);
      return chunk({
        ...e,
        'amazon-bedrock-invocationMetrics': {
          inputTokenCount: usage.input_tokens, outputTokenCount: usage.output_tokens, invocationLatency: latency(started), firstByteLatency: Math.max(1, firstByteAt - started),
          ...(usage.cache_read_input_tokens > 0 ? { cacheReadInputTokenCount: usage.cache_read_input_tokens } : {}),
          ...(usage.cache_creation_input_tokens > 0 ? { cacheWriteInputTokenCount: usage.cache_creation_input_tokens } : {}),
        },
      });
    }), { 'x-amzn-bedrock-content-type': 'application/json' });
  }

  /** A turn of the Claude Code script (claude-script.ts), as InvokeModel or its stream answers it. */
  async #invokeScripted(ex: Exchange, stream: boolean, turn: ScriptedTurn, started: number): Promise<void> {
    const { input_tokens: inputTokens, output_tokens: outputTokens } = turn.message.usage;
    if (!stream) return this.json(ex, 200, turn.message, invocationHeaders(inputTokens, outputTokens, started));
    return this.#eventStream(ex, (firstByteAt) => turn.events.map((e) => {
      const metrics = { inputTokenCount: inputTokens, outputTokenCount: outputTokens, invocationLatency: latency(started), firstByteLatency: Math.max(1, firstByteAt - started) };
      const payload = e['type'] === 'message_stop' ? { ...e, 'amazon-bedrock-invocationMetrics': metrics } : e;
      return this.#event('chunk', { bytes: Buffer.from(JSON.stringify(payload)).toString('base64'), p: padding() });
    }), { 'x-amzn-bedrock-content-type': 'application/json' });
  }

  async #titanEmbedding(ex: Exchange, body: Record<string, unknown>, started: number): Promise<void> {
    const text = body['inputText'];
    if (typeof text !== 'string') return this.json(ex, 400, new BedrockError(400, 'ValidationException', 'Malformed input request: #: required key [inputText] not found, please reformat your input and try again.'));
    const dimensions = body['dimensions'] ?? 1024;
    if (dimensions !== 256 && dimensions !== 512 && dimensions !== 1024) {
      return this.json(ex, 400, new BedrockError(400, 'ValidationException', `Malformed input request: #/dimensions: ${String(dimensions)} is not a valid enum value, please reformat your input and try again.`));
    }
    const embedding = Array.from({ length: dimensions }, (_, i) => Math.round(Math.sin(i + text.length) * 1e6) / 1e7);
    const inputTextTokenCount = Math.max(1, Math.ceil(text.length / 4));
    return this.json(ex, 200, { embedding, embeddingsByType: { float: embedding }, inputTextTokenCount }, invocationHeaders(inputTextTokenCount, 0, started));
  }

  /**
   * CountTokens takes a foundation model (id or ARN), not an inference profile: a client running
   * `us.anthropic.X` counts on `anthropic.X`. Only Claude models count tokens here.
   */
  #countTokens(ex: Exchange, rawModel: string): Promise<void> {
    const id = decode(rawModel);
    (ex.record as BedrockRecordedRequest).modelId = id;
    const bare = id.replace(new RegExp(`^arn:aws:bedrock:${this.region}::foundation-model/`), '');
    const model = MODELS.find((m) => m.modelId === bare);
    if (!model) {
      const profile = /^(us|eu|apac|global)\./.test(bare) || bare.includes(':inference-profile/');
      return this.json(ex, 400, new BedrockError(400, 'ValidationException', profile ? NO_COUNT_TOKENS : INVALID_MODEL));
    }
    if (model.family !== 'anthropic') return this.json(ex, 400, new BedrockError(400, 'ValidationException', NO_COUNT_TOKENS));
    const body = parseJson(ex.record.body);
    const counted = body === undefined ? { invalid: MALFORMED } : countTokens(body);
    if ('invalid' in counted) return this.json(ex, 400, new BedrockError(400, 'ValidationException', counted.invalid));
    return this.json(ex, 200, counted);
  }

  /** A control-plane answer, or its refusal in AWS's error shape. */
  #answer(ex: Exchange, result: object): Promise<void> {
    if (result instanceof ProfileRefusal) return this.json(ex, result.status, new BedrockError(result.status, result.type, result.message));
    return this.json(ex, 200, result);
  }

  #listModels(ex: Exchange): Promise<void> {
    const byProvider = new URLSearchParams(ex.record.query).get('byProvider')?.toLowerCase();
    const modelSummaries = MODELS.filter((m) => byProvider === undefined || m.providerName.toLowerCase() === byProvider).map((m) => this.#summary(m));
    return this.json(ex, 200, { modelSummaries });
  }

  #getModel(ex: Exchange, raw: string): Promise<void> {
    const id = decode(raw).replace(/^arn:aws:bedrock:[a-z0-9-]+::foundation-model\//, '');
    const model = MODELS.find((m) => m.modelId === id);
    if (!model) return this.json(ex, 404, new BedrockError(404, 'ResourceNotFoundException', 'Could not resolve the foundation model from the provided model identifier.'));
    return this.json(ex, 200, { modelDetails: this.#summary(model) });
  }

  #summary(m: FoundationModel) {
    return {
      modelArn: `arn:aws:bedrock:${this.region}::foundation-model/${m.modelId}`,
      modelId: m.modelId,
      modelName: m.modelName,
      providerName: m.providerName,
      inputModalities: m.inputModalities,
      outputModalities: m.outputModalities,
      responseStreamingSupported: m.responseStreamingSupported,
      customizationsSupported: [],
      inferenceTypesSupported: m.inferenceTypesSupported,
      modelLifecycle: { status: m.lifecycle },
    };
  }

  #event(type: string, payload: object): Uint8Array {
    const headers: MessageHeaders = {
      ':event-type': { type: 'string', value: type },
      ':content-type': { type: 'string', value: 'application/json' },
      ':message-type': { type: 'string', value: 'event' },
    };
    return this.#codec.encode({ headers, body: fromUtf8(JSON.stringify(payload)) });
  }

  #exception(type: StreamExceptionType, message: string): Uint8Array {
    const headers: MessageHeaders = {
      ':exception-type': { type: 'string', value: type },
      ':content-type': { type: 'string', value: 'application/json' },
      ':message-type': { type: 'string', value: 'exception' },
    };
    return this.#codec.encode({ headers, body: fromUtf8(JSON.stringify({ message })) });
  }

  /** Writes event-stream frames honouring first-byte delay, chunk delay, stall and {@link streamException}. */
  async #eventStream(ex: Exchange, build: (firstByteAt: number) => Uint8Array[], headers: Record<string, string> = {}): Promise<void> {
    await this.firstByte(ex);
    const frames = build(Date.now());
    const failure = this.streamException;
    if (failure) frames.splice(failure.afterEvents, frames.length, this.#exception(failure.type, failure.message));
    await this.stream(ex, { 'content-type': 'application/vnd.amazon.eventstream', ...headers }, frames);
  }

  #refuse(record: BedrockRecordedRequest, error: BedrockError): { status: number; body: BedrockError } {
    record.authError = error.type;
    this.authFailures[error.type] = (this.authFailures[error.type] ?? 0) + 1;
    return { status: error.status, body: error };
  }
}

function errorType(type: string, namespace: 'coral' | 'bedrock'): string {
  return `${type}:http://internal.amazon.com/coral/${namespace === 'coral' ? 'com.amazon.coral.service' : 'com.amazon.bedrock'}/`;
}

/** Bedrock validates Anthropic bodies against a schema: an anthropic_version it takes (BEDROCK_ANTHROPIC_VERSIONS), no `model`, no `stream`. */
function anthropicBodyError(body: Record<string, unknown>): string | undefined {
  for (const key of ['model', 'stream']) {
    if (key in body) return `Malformed input request: #: extraneous key [${key}] is not permitted, please reformat your input and try again.`;
  }
  for (const key of ['anthropic_version', 'max_tokens', 'messages']) {
    if (!(key in body)) return `Malformed input request: #: required key [${key}] not found, please reformat your input and try again.`;
  }
  if (!BEDROCK_ANTHROPIC_VERSIONS.has(String(body['anthropic_version']))) {
    return `Malformed input request: #/anthropic_version: ${String(body['anthropic_version'])} is not a valid enum value, please reformat your input and try again.`;
  }
  return undefined;
}

function invocationHeaders(inputTokens: number, outputTokens: number, started: number): Record<string, string> {
  return {
    'x-amzn-bedrock-input-token-count': String(inputTokens),
    'x-amzn-bedrock-output-token-count': String(outputTokens),
    'x-amzn-bedrock-invocation-latency': String(latency(started)),
  };
}

/** Cross-region inference profiles are named after the region's geography. */
function geography(region: string): string {
  if (region.startsWith('us-')) return 'us';
  if (region.startsWith('eu-')) return 'eu';
  if (region.startsWith('ap-')) return 'apac';
  return region;
}

function parseJson(body: Buffer): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(body.toString('utf8')) as unknown;
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function tokenEstimate(v: unknown): number {
  return Math.max(1, Math.ceil(JSON.stringify(v).length / 4));
}

function latency(started: number): number {
  return Math.max(1, Date.now() - started);
}

/** Bedrock pads stream events with a `p` field of random length so sizes do not leak content. */
function padding(): string {
  return PADDING.slice(0, 1 + (randomBytes(1)[0]! % PADDING.length));
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** A tool the emulated model calls in Converse: when tools are offered and the last user turn asks about the weather. */
function converseToolToCall(body: Record<string, unknown>): string | undefined {
  const tools = (body['toolConfig'] as { tools?: Array<{ toolSpec?: { name?: string } }> } | undefined)?.tools;
  if (!Array.isArray(tools) || tools.length === 0) return undefined;
  const last = (body['messages'] as Array<{ role?: string; content?: Array<{ text?: string }> }>).at(-1);
  if (last?.role !== 'user' || !Array.isArray(last.content)) return undefined;
  return last.content.some((c) => typeof c.text === 'string' && /weather/i.test(c.text)) ? tools[0]?.toolSpec?.name : undefined;
}
