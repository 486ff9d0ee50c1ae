import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { EventStreamCodec, type MessageHeaders } from '@smithy/eventstream-codec';
import { fromUtf8, toUtf8 } from '@smithy/util-utf8';
import fc from 'fast-check';
import { cutAt as cut } from '../helpers/chunks.js';
import { DEFINITIONS, sampleInstances } from '../helpers/provider-samples.js';
import { GatewayError } from '../../src/errors/gateway-error.js';
import { RequestContext } from '../../src/request/context.js';
import { StreamIncomplete, type ChatTranslatorFactory, type EmbeddingsTranslatorFactory } from '../../src/protocol/translator.js';
import type { ChatRequest, EmbeddingsRequest } from '../../src/protocol/openai.js';
import { callOf, parseCall, type ProtocolOperation } from '../../src/server/routes/protocol-call.js';
import { CHAT } from '../../src/server/routes/protocol.js';
import { EMBEDDINGS } from '../../src/server/routes/protocol-embeddings.js';
import type { Req, Res } from '../../src/util/http.js';

/*
 * Property tests over every chat and embeddings translator of every provider in the registry
 * (issue 11): whatever a client sends, protocol mode answers 400 or translates, and whatever a
 * provider answers or streams, translators fail only with the errors the routes turn into 502s
 * or SSE error events (GatewayError, StreamIncomplete), never a TypeError or RangeError (a 500,
 * or an unhandled rejection). Runs are random (no fixed seed): the properties hold for every one.
 */

const RUNS = 150;

interface Subject {
  name: string;
  model: string;
  chat?: ChatTranslatorFactory;
  embeddings?: EmbeddingsTranslatorFactory;
}

/**
 * One subject per sample model of every provider in the registry: each definition's `samples`
 * names instances and the models that pick each of their translators.
 */
const subjects: { chat: Subject[]; embeddings: Subject[] } = { chat: [], embeddings: [] };
let closeSamples: (() => Promise<void>) | undefined;

before(async () => {
  const built = await sampleInstances();
  closeSamples = built.close;
  for (const s of built.instances) {
    const name = (model: string) => `${s.provider.type}${s.index > 0 ? `#${s.index}` : ''}/${model}`;
    if (s.chat) for (const model of s.chatModels) subjects.chat.push({ name: name(model), model, chat: s.chat });
    if (s.embeddings) for (const model of s.embeddingsModels) subjects.embeddings.push({ name: name(model), model, embeddings: s.embeddings });
  }
});

after(async () => {
  await closeSamples?.();
});

test('every provider in the registry has samples, and every sample model a translator', () => {
  assert.deepEqual(DEFINITIONS.filter((p) => p.samples === undefined).map((p) => p.type), [], 'providers without samples');
  const expected = (kind: 'chat' | 'embeddings') =>
    DEFINITIONS.flatMap((p) => p.samples!.instances.flatMap((i, n) => i[kind].map((m) => `${p.type}${n > 0 ? `#${n}` : ''}/${m}`))).sort();
  assert.deepEqual(subjects.chat.map((s) => s.name).sort(), expected('chat'));
  assert.deepEqual(subjects.embeddings.map((s) => s.name).sort(), expected('embeddings'));
});

// ---------------------------------------------------------------------------------------------
// What a translator may throw.

/** The only failures the routes expect from a translator's answer side. */
function isExpectedAnswerFailure(err: unknown): boolean {
  return err instanceof GatewayError || err instanceof StreamIncomplete;
}

function failWith(where: string, err: unknown): never {
  assert.fail(`${where}: ${err instanceof Error ? `${err.name}: ${err.message}\n${err.stack}` : String(err)}`);
}

// ---------------------------------------------------------------------------------------------
// Mutating JSON: values drawn from what breaks naive code.

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const SPECIAL: Json[] = [
  null, 0, -1, 1.5, 1e308, '', 'x', true, false, [], [null], {}, { type: 'x' }, [[[]]], { toString: 1 }, { valueOf: 'x', toString: { a: 1 } },
  JSON.parse('{"__proto__":{"polluted":1}}') as Json, 'data:image/png;base64,AAAA', 'https://x/y.png', '{"a":[1]}', '[]',
];

const keyArb = fc.oneof(fc.constantFrom('type', 'text', 'content', 'role', 'id', 'name', 'index', 'usage', 'choices', 'message', 'delta', 'toString', '__proto__', 'constructor', 'tool_calls', 'function', 'arguments', 'input'), fc.string({ maxLength: 6 }));
const valueArb: fc.Arbitrary<Json> = fc.oneof(fc.constantFrom(...SPECIAL), fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json>);

type Mutation = { op: 'delete' | 'replace' | 'wrap' | 'add' | 'nest'; pick: number; key: string; value: Json; depth: number };
const mutationArb: fc.Arbitrary<Mutation> = fc.record({
  op: fc.constantFrom('delete', 'replace', 'replace', 'wrap', 'add', 'nest'),
  pick: fc.nat(),
  key: keyArb,
  value: valueArb,
  depth: fc.integer({ min: 1, max: 300 }),
});

/** Every container in `v` with the path to it (the root included). */
function containers(v: Json, out: Json[] = []): Json[] {
  if (v !== null && typeof v === 'object') {
    out.push(v);
    for (const child of Object.values(v)) containers(child, out);
  }
  return out;
}

function nestIn(value: Json, depth: number): Json {
  let v = value;
  for (let i = 0; i < depth; i++) v = i % 2 === 0 ? [v] : { a: v };
  return v;
}

/** Applies `m` to a container of `root` (chosen by `m.pick`), in place. */
function mutate(root: Json, m: Mutation): void {
  const all = containers(root);
  if (all.length === 0) return;
  const target = all[m.pick % all.length] as Record<string, Json> | Json[];
  const keys = Object.keys(target);
  const key = Array.isArray(target) ? (keys.length > 0 ? Number(keys[m.pick % keys.length]) : 0) : keys.length > 0 && m.op !== 'add' ? keys[m.pick % keys.length]! : m.key;
  const slot = target as Record<string | number, Json>;
  switch (m.op) {
    case 'delete':
      if (Array.isArray(target)) target.splice(key as number, 1);
      else delete slot[key];
      return;
    case 'replace':
    case 'add':
      // A copy: the drawn value may be a shared constant, which a later mutation must not change.
      Object.defineProperty(slot, key, { value: JSON.parse(JSON.stringify(m.value)) as Json, enumerable: true, writable: true, configurable: true });
      return;
    case 'wrap':
      slot[key] = [slot[key] ?? null];
      return;
    case 'nest':
      slot[key] = nestIn(slot[key] ?? null, m.depth);
      return;
  }
}

/** A seed mutated by `mutations`, as the text a client or a provider would send. */
function mutatedText(seed: Json, mutations: Mutation[]): string {
  const copy = JSON.parse(JSON.stringify(seed)) as Json;
  const root: Json = { root: copy };
  for (const m of mutations) mutate(root, m);
  return JSON.stringify((root as { root?: Json }).root ?? null) ?? 'null';
}

/** Every path to a value inside `v` (object keys and array indexes), the root excluded. */
function paths(v: Json, prefix: Array<string | number> = [], out: Array<Array<string | number>> = []): Array<Array<string | number>> {
  if (v !== null && typeof v === 'object') {
    for (const [k, child] of Object.entries(v)) {
      const path = [...prefix, Array.isArray(v) ? Number(k) : k];
      out.push(path);
      paths(child, path, out);
    }
  }
  return out;
}

/**
 * Every single-point mutation of `seed`, as text: each value replaced by each SPECIAL value, and
 * each removed. Exhaustive where random draws would need luck to hit the one field that matters.
 */
function singlePointMutations(seed: Json): string[] {
  const out: string[] = [];
  for (const path of paths(seed)) {
    for (const replacement of [undefined, ...SPECIAL]) {
      const copy = JSON.parse(JSON.stringify(seed)) as Json;
      let parent = copy as Record<string | number, Json>;
      for (const key of path.slice(0, -1)) parent = parent[key] as Record<string | number, Json>;
      const last = path[path.length - 1]!;
      if (replacement === undefined) {
        if (Array.isArray(parent)) parent.splice(last as number, 1);
        else delete parent[last];
      } else {
        Object.defineProperty(parent, last, { value: JSON.parse(JSON.stringify(replacement)) as Json, enumerable: true, writable: true, configurable: true });
      }
      out.push(JSON.stringify(copy));
    }
  }
  return out;
}

/** Sometimes the text nested far past every limit, as the attacker sent it. */
const deepTextArb = (textArb: fc.Arbitrary<string>) =>
  fc.oneof(
    { weight: 5, arbitrary: textArb },
    { weight: 1, arbitrary: fc.tuple(textArb, fc.integer({ min: 1000, max: 60_000 })).map(([t, n]) => (t.endsWith('}') ? `${t.slice(0, -1)}${t.length > 2 ? ',' : ''}"deep":${'['.repeat(n)}${']'.repeat(n)}}` : `${'['.repeat(n)}${t}${']'.repeat(n)}`)) },
    { weight: 1, arbitrary: fc.tuple(textArb, fc.nat()).map(([t, cut]) => t.slice(0, cut % (t.length + 1))) },
  );

// ---------------------------------------------------------------------------------------------
// (a) Client bodies: 400, or a translation.

const CHAT_SEEDS: Json[] = [
  { model: 'm', messages: [{ role: 'user', content: 'hi' }] },
  {
    model: 'm',
    stream: true,
    stream_options: { include_usage: true },
    max_tokens: 100,
    temperature: 0.5,
    top_p: 0.9,
    stop: ['END'],
    user: 'u-1',
    messages: [
      { role: 'system', content: 'be brief' },
      { role: 'developer', content: [{ type: 'text', text: 'really' }] },
      { role: 'user', name: 'ann', content: [{ type: 'text', text: 'what is this?' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=', detail: 'low' } }] },
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'lookup', arguments: '{"q":"x"}' } }] },
      { role: 'tool', tool_call_id: 'call_1', content: [{ type: 'text', text: 'result' }] },
      { role: 'assistant', content: [{ type: 'refusal', refusal: 'no' }] },
      { role: 'user', content: [{ type: 'input_audio', input_audio: { data: 'AAAA', format: 'wav' } }, { type: 'file', file: { file_data: 'data:application/pdf;base64,AAAA' } }] },
    ],
    tools: [
      { type: 'function', function: { name: 'lookup', description: 'look up', parameters: { type: 'object', properties: { q: { type: 'string' } } }, strict: true } },
      { type: 'custom', custom: { name: 'free' } },
    ],
    tool_choice: { type: 'function', function: { name: 'lookup' } },
    parallel_tool_calls: false,
    response_format: { type: 'json_schema', json_schema: { name: 'out', schema: { type: 'object' } } },
  },
  { model: 'm', n: 2, seed: 1, presence_penalty: 0.1, frequency_penalty: 0.1, logprobs: false, tool_choice: 'required', tools: [{ type: 'function', function: { name: 'f' } }], response_format: { type: 'json_object' }, messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://example.com/a.png' } }] }, { role: 'assistant', content: '', tool_calls: [{ id: 'c', type: 'custom', custom: { name: 'free', input: 'x' } }] }] },
];

const EMBEDDINGS_SEEDS: Json[] = [
  { model: 'e', input: 'hello' },
  { model: 'e', input: ['a', 'b'], encoding_format: 'base64', dimensions: 256, user: 'u' },
  { model: 'e', input: [[1, 2], [3]] },
];

function ctxWith(text: string): RequestContext {
  const ctx = new RequestContext({ headers: {}, method: 'POST', url: '/v1/chat/completions' } as unknown as Req, {} as Res);
  ctx.body = Buffer.from(text);
  return ctx;
}

/**
 * Runs the real parseCall on `text`, then every subject's translator on what it kept: a refusal
 * must be a 400 GatewayError, a translation must refuse only with invalid_request.
 */
async function checkRequest<B extends { model: string }>(op: ProtocolOperation<B>, text: string, translate: (body: B, stream: boolean) => void): Promise<boolean> {
  const ctx = ctxWith(text);
  let kept: B | undefined;
  try {
    await parseCall(op)(ctx, async () => {
      kept = callOf<B>(ctx).body;
    });
  } catch (err) {
    if (!(err instanceof GatewayError) || err.status !== 400 || err.code !== 'invalid_request') failWith('parseCall', err);
    return false;
  }
  assert.ok(kept, 'parseCall neither refused nor called next');
  for (const stream of [false, true]) {
    try {
      translate(kept, stream);
    } catch (err) {
      if (!(err instanceof GatewayError) || err.code !== 'invalid_request') failWith(`request (stream ${stream}) of ${text.slice(0, 300)}`, err);
    }
  }
  return true;
}

/** Every chat translator's request() on `body`; each must refuse only with invalid_request. */
function translateChat(body: ChatRequest, stream: boolean): void {
  for (const s of subjects.chat) {
    try {
      assert.ok(Buffer.isBuffer(s.chat!(options(s.model, stream)).request(body).body));
    } catch (err) {
      if (!(err instanceof GatewayError) || err.code !== 'invalid_request') failWith(`${s.name} request`, err);
    }
  }
}

function translateEmbeddings(body: EmbeddingsRequest): void {
  for (const s of subjects.embeddings) {
    try {
      assert.ok(Buffer.isBuffer(s.embeddings!({ model: s.model }).request(body).body));
    } catch (err) {
      if (!(err instanceof GatewayError) || err.code !== 'invalid_request') failWith(`${s.name} request`, err);
    }
  }
}

const options = (model: string, stream: boolean) => ({ model, id: 'chatcmpl-prop', created: 1, stream, includeUsage: stream });

describe('(a) client bodies: a 400 from the schema, or a translation that refuses only with invalid_request', () => {
  const chatTextArb = deepTextArb(fc.tuple(fc.constantFrom(...CHAT_SEEDS), fc.array(mutationArb, { minLength: 1, maxLength: 4 })).map(([seed, ms]) => mutatedText(seed, ms)));
  const embeddingsTextArb = deepTextArb(fc.tuple(fc.constantFrom(...EMBEDDINGS_SEEDS), fc.array(mutationArb, { minLength: 1, maxLength: 3 })).map(([seed, ms]) => mutatedText(seed, ms)));

  test('the seeds themselves pass the schema (so the mutations start from real bodies)', async () => {
    for (const seed of CHAT_SEEDS) assert.equal(await checkRequest(CHAT, JSON.stringify(seed), translateChat), true);
    for (const seed of EMBEDDINGS_SEEDS) assert.equal(await checkRequest(EMBEDDINGS, JSON.stringify(seed), translateEmbeddings), true);
  });

  test('every single-point mutation of every seed, through every translator', async () => {
    let accepted = 0;
    for (const seed of CHAT_SEEDS) for (const text of singlePointMutations(seed)) if (await checkRequest(CHAT, text, translateChat)) accepted++;
    for (const seed of EMBEDDINGS_SEEDS) for (const text of singlePointMutations(seed)) if (await checkRequest(EMBEDDINGS, text, translateEmbeddings)) accepted++;
    // Many mutations keep a body valid (a removed optional field, a null): translators see those.
    assert.ok(accepted > 100, `only ${accepted} mutated bodies passed the schema`);
  });

  test('chat: random mutations, deep nesting and cut bodies', async () => {
    await fc.assert(fc.asyncProperty(chatTextArb, async (text) => void (await checkRequest(CHAT, text, translateChat))), { numRuns: RUNS });
  });

  test('embeddings: random mutations, deep nesting and cut bodies', async () => {
    await fc.assert(fc.asyncProperty(embeddingsTextArb, async (text) => void (await checkRequest(EMBEDDINGS, text, translateEmbeddings))), { numRuns: RUNS });
  });
});

// ---------------------------------------------------------------------------------------------
// (b) Provider answers and streams: only GatewayError or StreamIncomplete.

/** Answers in each provider's shape (and each other's: a translator must survive those too). */
const ANSWER_SEEDS: Json[] = [
  { id: 'x', object: 'chat.completion', created: 1, model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: 'hi', tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '{}' } }] }, finish_reason: 'stop' }], usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 } },
  { type: 'message', content: [{ type: 'text', text: 'hi' }, { type: 'tool_use', id: 't', name: 'f', input: { a: 1 } }], stop_reason: 'end_turn', usage: { input_tokens: 1, output_tokens: 2 } },
  { output: { message: { role: 'assistant', content: [{ text: 'hi' }, { toolUse: { toolUseId: 't', name: 'f', input: { a: 1 } } }] } }, stopReason: 'end_turn', usage: { inputTokens: 1, outputTokens: 2, totalTokens: 3 } },
  { candidates: [{ index: 0, content: { role: 'model', parts: [{ text: 'hi' }, { functionCall: { name: 'f', args: { a: 1 } } }] }, finishReason: 'STOP' }], usageMetadata: { promptTokenCount: 1, candidatesTokenCount: 2 }, promptFeedback: { blockReason: 'SAFETY' } },
  { model_id: 'm', choices: [{ index: 0, message: { role: 'assistant', content: 'hi', tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '{}' } }] }, finish_reason: 'stop' }], usage: { prompt_tokens: 1, completion_tokens: 2 } },
  { modelId: 'm', chatResult: null, chatResponse: { apiFormat: 'GENERIC', choices: [{ index: 0, message: { role: 'ASSISTANT', content: [{ type: 'TEXT', text: 'hi' }], toolCalls: [{ id: 'c', type: 'FUNCTION', name: 'f', arguments: '{}' }] }, finishReason: 'stop' }], text: 'hi', finishReason: 'COMPLETE', usage: { promptTokens: 1, completionTokens: 2 } } },
  { object: 'list', data: [{ object: 'embedding', index: 0, embedding: [0.1, 0.2] }, { object: 'embedding', index: 1, embedding: 'AAAAAA==' }], model: 'e', usage: { prompt_tokens: 1, total_tokens: 1 } },
  { embedding: [0.1, 0.2], inputTextTokenCount: 2 },
  { predictions: [{ embeddings: { values: [0.1], statistics: { token_count: 1 } } }] },
  { results: [{ embedding: [0.1] }], input_token_count: 1 },
  { error: { message: 'boom', code: 'x', status: 'INTERNAL' }, errors: [{ code: 'c', message: 'm' }], message: 'm', code: 'c' },
];

const answerTextArb = deepTextArb(
  fc.oneof(
    { weight: 6, arbitrary: fc.tuple(fc.constantFrom(...ANSWER_SEEDS), fc.array(mutationArb, { minLength: 0, maxLength: 4 })).map(([seed, ms]) => mutatedText(seed, ms)) },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)) },
    { weight: 1, arbitrary: fc.string({ maxLength: 64 }) },
  ),
);

/** A translator's output must also survive the route's JSON.stringify. */
function serialisable(value: unknown, where: string): void {
  try {
    JSON.stringify(value);
  } catch (err) {
    failWith(`${where}: the output cannot be serialised`, err);
  }
}

/** Every chat translator's response() and errorMessage() on `text`. */
function checkChatAnswer(text: string): void {
  const body = Buffer.from(text);
  for (const s of subjects.chat) {
    const t = s.chat!(options(s.model, false));
    try {
      serialisable(t.response(body), `${s.name} response`);
    } catch (err) {
      if (!(err instanceof GatewayError)) failWith(`${s.name} response of ${text.slice(0, 300)}`, err);
    }
    const message = t.errorMessage(body);
    assert.ok(message === undefined || typeof message === 'string', s.name);
    t.usage();
  }
}

function checkEmbeddingsAnswer(text: string): void {
  const body = Buffer.from(text);
  for (const s of subjects.embeddings) {
    const t = s.embeddings!({ model: s.model });
    try {
      t.request({ model: s.model, input: ['a'] });
      serialisable(t.response(body), `${s.name} response`);
    } catch (err) {
      if (!(err instanceof GatewayError)) failWith(`${s.name} response of ${text.slice(0, 300)}`, err);
    }
    const message = t.errorMessage(body);
    assert.ok(message === undefined || typeof message === 'string', s.name);
    t.usage();
  }
}

describe('(b) provider answers: response() and errorMessage() throw only GatewayError', () => {
  test('every single-point mutation of every answer seed, through every translator', () => {
    for (const seed of ANSWER_SEEDS) {
      for (const text of [JSON.stringify(seed), ...singlePointMutations(seed)]) {
        checkChatAnswer(text);
        checkEmbeddingsAnswer(text);
      }
    }
  });

  test('chat: random answers, mutations, 60,000-deep nesting and cut bodies', () => {
    fc.assert(fc.property(answerTextArb, checkChatAnswer), { numRuns: RUNS });
  });

  test('embeddings: random answers, mutations, 60,000-deep nesting and cut bodies', () => {
    fc.assert(fc.property(answerTextArb, checkEmbeddingsAnswer), { numRuns: RUNS });
  });
});

/** Stream events in each provider's shape (as JSON payloads). */
const EVENT_SEEDS: Json[] = [
  { id: 'x', object: 'chat.completion.chunk', choices: [{ index: 0, delta: { role: 'assistant', content: 'hi', tool_calls: [{ index: 0, id: 'c', type: 'function', function: { name: 'f', arguments: '{' } }] }, finish_reason: null }] },
  { id: 'x', object: 'chat.completion.chunk', choices: [], usage: { prompt_tokens: 1, completion_tokens: 1 } },
  { type: 'message_start', message: { usage: { input_tokens: 1 } } },
  { type: 'content_block_start', index: 0, content_block: { type: 'tool_use', id: 't', name: 'f' } },
  { type: 'content_block_delta', index: 0, delta: { type: 'input_json_delta', partial_json: '{"a"' } },
  { type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 2 } },
  { type: 'message_stop' },
  { type: 'error', error: { type: 'overloaded_error', message: 'busy' } },
  { candidates: [{ index: 0, content: { parts: [{ text: 'hi' }, { functionCall: { name: 'f', args: { a: 1 } } }] }, finishReason: 'STOP' }], usageMetadata: { promptTokenCount: 1 } },
  { index: 0, message: { role: 'ASSISTANT', content: [{ type: 'TEXT', text: 'hi' }], toolCalls: [{ id: 'c', name: 'f', arguments: { a: 1 } }] }, finishReason: 'stop', usage: { promptTokens: 1 } },
  { choices: [{ index: 0, delta: { content: 'hi', reasoning_content: 'r' }, finish_reason: 'stop', logprobs: { content: [] } }], usage: { prompt_tokens: 1 } },
];

/** Converse stream events (Bedrock frames), by event type. */
const CONVERSE_SEEDS: Array<[string, Json]> = [
  ['messageStart', { role: 'assistant' }],
  ['contentBlockStart', { contentBlockIndex: 0, start: { toolUse: { toolUseId: 't', name: 'f' } } }],
  ['contentBlockDelta', { contentBlockIndex: 0, delta: { toolUse: { input: '{"a"' } } }],
  ['contentBlockDelta', { contentBlockIndex: 1, delta: { text: 'hi' } }],
  ['messageStop', { stopReason: 'end_turn' }],
  ['metadata', { usage: { inputTokens: 1, outputTokens: 1 } }],
];

const codec = new EventStreamCodec(toUtf8, fromUtf8);

function frame(eventType: string, payload: string, messageType = 'event'): Buffer {
  const h: MessageHeaders = { ':message-type': { type: 'string', value: messageType }, ':content-type': { type: 'string', value: 'application/json' } };
  h[messageType === 'exception' ? ':exception-type' : ':event-type'] = { type: 'string', value: eventType };
  return Buffer.from(codec.encode({ headers: h, body: fromUtf8(payload) }));
}

const eventTextArb = fc.tuple(fc.constantFrom(...EVENT_SEEDS), fc.array(mutationArb, { maxLength: 3 })).map(([seed, ms]) => mutatedText(seed, ms));

/** A stream as bytes: SSE events (with `[DONE]` sometimes), Bedrock frames, or random bytes. */
const streamArb: fc.Arbitrary<Buffer> = fc.oneof(
  fc.array(fc.oneof({ weight: 8, arbitrary: deepTextArb(eventTextArb) }, { weight: 1, arbitrary: fc.constant('[DONE]') }), { maxLength: 8 }).map((events) => Buffer.from(events.map((e) => `data: ${e}\n\n`).join(''))),
  fc
    .array(
      fc.oneof(
        { weight: 6, arbitrary: fc.tuple(fc.constantFrom(...CONVERSE_SEEDS), fc.array(mutationArb, { maxLength: 2 })).map(([[type, seed], ms]) => frame(type, mutatedText(seed, ms))) },
        // Claude on InvokeModel: `chunk` events carrying the Anthropic event, base64.
        { weight: 4, arbitrary: deepTextArb(eventTextArb).map((e) => frame('chunk', JSON.stringify({ bytes: Buffer.from(e).toString('base64') }))) },
        { weight: 1, arbitrary: fc.constantFrom('throttlingException', 'modelStreamErrorException').map((t) => frame(t, '{"message":"m"}', 'exception')) },
      ),
      { maxLength: 8 },
    )
    .map((frames) => Buffer.concat(frames)),
  fc.uint8Array({ maxLength: 256 }).map((b) => Buffer.from(b)),
);

/** Every streaming chat translator on `body`, cut at `offsets`. */
function checkStream(body: Buffer, offsets: number[]): void {
  for (const s of subjects.chat) {
    const t = s.chat!(options(s.model, true));
    try {
      for (const piece of cut(body, offsets)) serialisable(t.push(piece), `${s.name} push`);
      serialisable(t.end(), `${s.name} end`);
    } catch (err) {
      if (!isExpectedAnswerFailure(err)) failWith(`${s.name} stream of ${body.toString('utf8', 0, 300)}`, err);
    }
    t.usage();
  }
}

const sse = (events: string[]) => Buffer.from(events.map((e) => `data: ${e}\n\n`).join(''));

describe('(b) provider streams: push() and end() throw only GatewayError or StreamIncomplete', () => {
  test('every single-point mutation of every event, in SSE and in Bedrock frames', () => {
    const events = EVENT_SEEDS.map((e) => JSON.stringify(e));
    const converse = CONVERSE_SEEDS.map(([type, e]) => frame(type, JSON.stringify(e)));
    EVENT_SEEDS.forEach((seed, i) => {
      for (const text of singlePointMutations(seed)) {
        checkStream(sse([...events.slice(0, i), text, ...events.slice(i + 1), '[DONE]']), []);
        checkStream(frame('chunk', JSON.stringify({ bytes: Buffer.from(text).toString('base64') })), []);
      }
    });
    CONVERSE_SEEDS.forEach(([type, seed], i) => {
      for (const text of singlePointMutations(seed)) checkStream(Buffer.concat([...converse.slice(0, i), frame(type, text), ...converse.slice(i + 1)]), []);
    });
  });

  test('random streams: any bytes, events and frames, at any chunking, cut or not', () => {
    fc.assert(
      fc.property(streamArb, fc.array(fc.nat(), { maxLength: 6 }), fc.boolean(), (bytes, offsets, truncate) => {
        checkStream(truncate ? bytes.subarray(0, Math.floor(bytes.length / 2)) : bytes, offsets);
      }),
      { numRuns: RUNS },
    );
  });
});
