import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { byteByByte, randomChunks } from '../../../test/helpers/chunks.js';
import { readTestdata, testdataFiles, testdataSkip } from '../../../test/helpers/testdata.js';
import { GatewayError } from '../../errors/gateway-error.js';
import type { ChatCompletionChunk, ChatRequest } from '../../protocol/openai.js';
import { StreamIncomplete, type ChatTranslator, type TranslatorOptions } from '../../protocol/translator.js';
import { watsonxChatParameters } from './chat/request.js';
import { watsonxErrorMessage } from './chat/response.js';
import { watsonxChat, type WatsonxScope } from './openai_to_watsonx.js';

const SUB = 'wire/watsonx';
const VERSION = '2025-12-05';
const PROJECT: WatsonxScope = { project_id: 'p-1111' };
const MODEL = 'ibm/granite-3-8b-instruct';

function translator(over: Partial<TranslatorOptions> = {}, scope: WatsonxScope = PROJECT): ChatTranslator {
  return watsonxChat({ scope, version: VERSION })({ model: MODEL, id: 'chatcmpl-gw', created: 1700000000, stream: false, includeUsage: false, ...over });
}

function native(req: Partial<ChatRequest> & Record<string, unknown>, over: Partial<TranslatorOptions> = {}, scope?: WatsonxScope) {
  const body = { model: 'alias-or-model', messages: [{ role: 'user', content: 'hi' }], ...req } as ChatRequest;
  const out = translator(over, scope).request(body);
  return { ...out, json: JSON.parse(out.body.toString('utf8')) as Record<string, unknown> };
}

function refusal(req: Partial<ChatRequest> & Record<string, unknown>): GatewayError {
  try {
    native(req);
  } catch (err) {
    assert.ok(err instanceof GatewayError, String(err));
    assert.equal(err.code, 'invalid_request');
    return err;
  }
  assert.fail(`accepted ${JSON.stringify(req)}`);
}

const WEATHER = { type: 'function' as const, function: { name: 'get_weather', description: 'Weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } };

describe('watsonx request mapping', () => {
  test('the native request: path with version, headers, model_id and project first, no stream field', () => {
    const plain = native({});
    assert.equal(plain.path, `/ml/v1/text/chat?version=${VERSION}`);
    assert.deepEqual(plain.headers, { 'content-type': 'application/json', accept: 'application/json' });
    assert.equal(plain.body.toString('utf8'), JSON.stringify({ model_id: MODEL, project_id: 'p-1111', messages: [{ role: 'user', content: 'hi' }] }));
    assert.deepEqual(plain.dropped, []);

    const streamed = native({ stream: true, stream_options: { include_usage: true } }, { stream: true, includeUsage: true });
    assert.equal(streamed.path, `/ml/v1/text/chat_stream?version=${VERSION}`);
    assert.equal(streamed.headers['accept'], 'text/event-stream');
    assert.deepEqual(streamed.json, { model_id: MODEL, project_id: 'p-1111', messages: [{ role: 'user', content: 'hi' }] });

    assert.deepEqual(native({}, {}, { space_id: 's-2222' }).json, { model_id: MODEL, space_id: 's-2222', messages: [{ role: 'user', content: 'hi' }] });
  });

  const cases: Array<{ name: string; req: Partial<ChatRequest> & Record<string, unknown>; expect: Record<string, unknown>; dropped?: string[] }> = [
    {
      name: 'system and developer become system; text parts are joined; names kept',
      req: { messages: [{ role: 'system', content: 'Be brief.', name: 'ops' }, { role: 'developer', content: [{ type: 'text', text: 'Use ' }, { type: 'text', text: 'French.' }] }, { role: 'user', content: 'hi', name: 'ann' }] },
      expect: { messages: [{ role: 'system', content: 'Be brief.', name: 'ops' }, { role: 'system', content: 'Use French.' }, { role: 'user', content: 'hi', name: 'ann' }] },
    },
    {
      name: 'user parts: text, image_url with detail, input_audio',
      req: {
        messages: [{ role: 'user', content: [
          { type: 'text', text: 'what is this?' },
          { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=', detail: 'low' } },
          { type: 'image_url', image_url: { url: 'https://example.com/cat.png' } },
          { type: 'input_audio', input_audio: { data: 'UklGRg==', format: 'wav' } },
        ] as never }],
      },
      expect: { messages: [{ role: 'user', content: [
        { type: 'text', text: 'what is this?' },
        { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=', detail: 'low' } },
        { type: 'image_url', image_url: { url: 'https://example.com/cat.png' } },
        { type: 'input_audio', input_audio: { data: 'UklGRg==', format: 'wav' } },
      ] }] },
    },
    {
      name: 'tool calls and results: assistant without content, tool with tool_call_id',
      req: {
        messages: [
          { role: 'user', content: 'weather?' },
          { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
          { role: 'tool', tool_call_id: 'call_1', content: [{ type: 'text', text: 'sunny' }] },
          { role: 'assistant', content: [{ type: 'text', text: 'It is sunny.' }] },
        ],
      },
      expect: { messages: [
        { role: 'user', content: 'weather?' },
        { role: 'assistant', tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
        { role: 'tool', content: 'sunny', tool_call_id: 'call_1' },
        { role: 'assistant', content: 'It is sunny.' },
      ] },
    },
    {
      name: 'an assistant message with neither content nor tool calls keeps an empty content (watsonx requires one)',
      req: { messages: [{ role: 'user', content: 'a' }, { role: 'assistant', content: null }, { role: 'user', content: 'b' }] },
      expect: { messages: [{ role: 'user', content: 'a' }, { role: 'assistant', content: '' }, { role: 'user', content: 'b' }] },
    },
    {
      name: 'sampling and limits pass through under their own names',
      req: { max_tokens: 64, max_completion_tokens: 128, temperature: 0.5, top_p: 0.9, n: 2, seed: 7, presence_penalty: 0.5, frequency_penalty: -0.5, logprobs: true, top_logprobs: 3, logit_bias: { '50256': -100 } },
      expect: { max_tokens: 64, max_completion_tokens: 128, temperature: 0.5, top_p: 0.9, n: 2, seed: 7, presence_penalty: 0.5, frequency_penalty: -0.5, logprobs: true, top_logprobs: 3, logit_bias: { '50256': -100 } },
    },
    { name: 'stop: a string becomes an array', req: { stop: 'END' }, expect: { stop: ['END'] } },
    { name: 'stop: an array stays one; an empty one is left out', req: { stop: ['a', 'b'] }, expect: { stop: ['a', 'b'] } },
    {
      name: 'tools keep name, description and parameters; strict is reported dropped',
      req: { tools: [{ ...WEATHER, function: { ...WEATHER.function, strict: true } }] },
      expect: { tools: [WEATHER] },
      dropped: ['tools.function.strict'],
    },
    { name: 'tool_choice none/auto/required → tool_choice_option', req: { tools: [WEATHER], tool_choice: 'required' }, expect: { tools: [WEATHER], tool_choice_option: 'required' } },
    {
      name: 'tool_choice naming a function → tool_choice',
      req: { tools: [WEATHER], tool_choice: { type: 'function', function: { name: 'get_weather' } } },
      expect: { tools: [WEATHER], tool_choice: { type: 'function', function: { name: 'get_weather' } } },
    },
    { name: 'response_format json_object as is', req: { response_format: { type: 'json_object' } }, expect: { response_format: { type: 'json_object' } } },
    {
      name: 'response_format json_schema as is',
      req: { response_format: { type: 'json_schema', json_schema: { name: 'answer', schema: { type: 'object' }, strict: true } } },
      expect: { response_format: { type: 'json_schema', json_schema: { name: 'answer', schema: { type: 'object' }, strict: true } } },
    },
    { name: 'reasoning_effort low/medium/high passes', req: { reasoning_effort: 'high' }, expect: { reasoning_effort: 'high' } },
    { name: 'reasoning_effort watsonx does not know is dropped', req: { reasoning_effort: 'minimal' }, expect: {}, dropped: ['reasoning_effort'] },
    { name: 'modalities ["text"] is the default: nothing sent', req: { modalities: ['text'] }, expect: {} },
    {
      name: 'parameters without an equivalent are dropped and reported',
      req: { user: 'u-1', parallel_tool_calls: false, metadata: { a: 'b' }, store: true, service_tier: 'auto', safety_identifier: 'x', prompt_cache_key: 'k', prediction: { type: 'content', content: 'x' }, verbosity: 'low' },
      expect: {},
      dropped: ['user', 'parallel_tool_calls', 'metadata', 'store', 'service_tier', 'safety_identifier', 'prompt_cache_key', 'prediction', 'verbosity'],
    },
    { name: 'null counts as absent', req: { temperature: null, stop: null, tools: undefined, user: null as never }, expect: {} },
  ];

  for (const c of cases) {
    test(c.name, () => {
      const out = native(c.req);
      assert.deepEqual(out.json, { model_id: MODEL, project_id: 'p-1111', messages: [{ role: 'user', content: 'hi' }], ...c.expect });
      assert.deepEqual(out.dropped, c.dropped ?? []);
    });
  }

  const refused: Array<{ name: string; req: Partial<ChatRequest> & Record<string, unknown>; message: RegExp }> = [
    { name: 'functions (deprecated)', req: { functions: [WEATHER.function] }, message: /use tools/ },
    { name: 'function_call (deprecated)', req: { function_call: 'auto' }, message: /use tool_choice/ },
    { name: 'audio output', req: { audio: { voice: 'alloy', format: 'mp3' } }, message: /audio/ },
    { name: 'modalities with audio', req: { modalities: ['text', 'audio'] }, message: /text only/ },
    { name: 'web search', req: { web_search_options: {} }, message: /web search/ },
    { name: 'a parameter the table does not list', req: { top_k: 5 }, message: /top_k: this parameter is not supported/ },
    { name: 'a response_format watsonx does not have', req: { response_format: { type: 'xml' } as never }, message: /response_format.type/ },
    { name: 'a tool that is not a function', req: { tools: [{ type: 'custom', custom: { name: 'x' } } as never] }, message: /tools\[0\]/ },
    { name: 'a malformed tool_choice', req: { tools: [WEATHER], tool_choice: 'any' as never }, message: /tool_choice/ },
    { name: 'a file part', req: { messages: [{ role: 'user', content: [{ type: 'file', file: { file_id: 'f' } }] as never }] }, message: /part type "file"/ },
    { name: 'an image part in a system message', req: { messages: [{ role: 'system', content: [{ type: 'image_url', image_url: { url: 'x' } }] }, { role: 'user', content: 'hi' }] }, message: /system messages take text parts only/ },
    { name: 'a tool message without tool_call_id', req: { messages: [{ role: 'tool', content: 'x' }] }, message: /tool_call_id is required/ },
    { name: 'the deprecated function role', req: { messages: [{ role: 'function', content: 'x', name: 'f' } as never] }, message: /role "function"/ },
    { name: 'a message that is not an object', req: { messages: ['hi' as never] }, message: /messages\[0\] must be an object/ },
    { name: 'stop that is not text', req: { stop: [1] as never }, message: /stop/ },
  ];
  for (const r of refused) {
    test(`refused: ${r.name}`, () => assert.match(refusal(r.req).message, r.message));
  }

  test('every parameter of watsonxChatParameters behaves as its rule says', () => {
    const samples: Record<string, unknown> = {
      model: 'm', messages: [{ role: 'user', content: 'hi' }], stream: false, stream_options: { include_usage: true }, max_tokens: 5, max_completion_tokens: 5,
      temperature: 0.1, top_p: 0.5, n: 1, seed: 1, presence_penalty: 0, frequency_penalty: 0, logprobs: false, top_logprobs: 0, logit_bias: {},
      stop: 'x', response_format: { type: 'text' }, tools: [WEATHER], tool_choice: 'auto', reasoning_effort: 'low', modalities: ['text'],
      parallel_tool_calls: true, user: 'u', safety_identifier: 's', metadata: {}, store: false, service_tier: 'auto', prompt_cache_key: 'k',
      prediction: { type: 'content', content: 'x' }, verbosity: 'low', functions: [], function_call: 'none', audio: {}, web_search_options: {},
    };
    assert.deepEqual(Object.keys(samples).sort(), Object.keys(watsonxChatParameters).sort(), 'a sample for every rule');
    for (const [key, rule] of Object.entries(watsonxChatParameters)) {
      const req = { [key]: samples[key] };
      if (rule === 'refused') {
        refusal(req);
        continue;
      }
      const out = native(req);
      if (rule === 'passthrough') assert.deepEqual(out.json[key], samples[key], key);
      if (rule === 'dropped') assert.deepEqual(out.dropped, [key], key);
      if (rule === 'mapped') assert.deepEqual(out.dropped, [], key);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Answers recorded from watsonx (IBM's Java SDK test resources), mapped back exactly.

const COMPLETIONS: Record<string, { choices: Array<{ content: string | null; reasoning?: string; tools?: Array<{ id: string; name: string; arguments: string }>; finish: string }>; usage: [number, number, number] }> = {
  'chat_response_multiple_choices.json': {
    choices: [
      { content: "The capital of Italy is Rome. It is also the country's largest city and a significant center of history, art, and culture.", finish: 'stop' },
      { content: 'The capital of Italy is Rome.', finish: 'stop' },
    ],
    usage: [34, 36, 70],
  },
  'chat_response_multiple_choices_different_finish_reasons.json': {
    choices: [
      { content: 'Paris is the capital and largest city of France.', finish: 'stop' },
      { content: 'Paris, the capital of France, is known for its art, fashion, gastronomy, and culture. The city is home to iconic landmarks such as the Eiffel Tower, the Louvre Museum, Notre-Dame Cathedral', finish: 'length' },
    ],
    usage: [12, 58, 70],
  },
  'chat_response_multiple_choices_with_tools.json': {
    choices: [
      { content: null, tools: [{ id: 'call_abc123', name: 'get_weather', arguments: '{"location": "Paris", "unit": "celsius"}' }], finish: 'tool_calls' },
      { content: null, tools: [{ id: 'call_def456', name: 'get_weather', arguments: '{"location": "Paris", "unit": "fahrenheit"}' }], finish: 'tool_calls' },
    ],
    usage: [85, 45, 130],
  },
  'gpt_oss_thinking_response.txt': {
    choices: [{ content: 'Aries Daily Horoscope', reasoning: 'Need to give horoscope for Aries.', finish: 'stop' }],
    usage: [89, 522, 611],
  },
  // Granite writes its reasoning inline; it stays in content as the model wrote it.
  'granite_thinking_response.txt': {
    choices: [{ content: '<think>Think</think><response>Result</response>', finish: 'stop' }],
    usage: [198, 162, 360],
  },
};

describe('watsonx chat answers → chat.completion', { skip: testdataSkip(SUB) }, () => {
  test('every recorded non-streaming answer has an expectation', () => {
    const files = testdataFiles(SUB, '').filter((f) => f.startsWith('chat_response_') || /_thinking_response\.txt$/.test(f));
    assert.deepEqual(files.sort(), Object.keys(COMPLETIONS).sort());
  });

  for (const [file, want] of Object.entries(COMPLETIONS)) {
    test(file, () => {
      const t = translator({ model: 'my-alias-model' });
      const completion = t.response(readTestdata(SUB, file));
      assert.deepEqual(completion, {
        id: 'chatcmpl-gw',
        object: 'chat.completion',
        created: 1700000000,
        model: 'my-alias-model',
        choices: want.choices.map((c, index) => ({
          index,
          message: {
            role: 'assistant',
            content: c.content,
            refusal: null,
            ...(c.tools ? { tool_calls: c.tools.map((tc) => ({ id: tc.id, type: 'function', function: { name: tc.name, arguments: tc.arguments } })) } : {}),
            ...(c.reasoning ? { reasoning_content: c.reasoning } : {}),
          },
          finish_reason: c.finish,
          logprobs: null,
        })),
        usage: { prompt_tokens: want.usage[0], completion_tokens: want.usage[1], total_tokens: want.usage[2] },
      });
      assert.deepEqual(t.usage(), { inputTokens: want.usage[0], outputTokens: want.usage[1] });
    });
  }

  test('finish reasons: time_limit → length, unknown → null, error → 502', () => {
    const answer = (finish: string) => Buffer.from(JSON.stringify({ choices: [{ index: 0, message: { role: 'assistant', content: 'x' }, finish_reason: finish }] }));
    assert.equal(translator().response(answer('time_limit')).choices[0]!.finish_reason, 'length');
    assert.equal(translator().response(answer('something_new')).choices[0]!.finish_reason, null);
    for (const failed of ['error', 'cancelled']) {
      assert.throws(() => translator().response(answer(failed)), (err: GatewayError) => err.code === 'upstream_error' && err.message.includes(failed));
    }
    assert.throws(() => translator().response(Buffer.from('<html>')), (err: GatewayError) => err.code === 'upstream_error');
    assert.throws(() => translator().response(Buffer.from('{"results":[]}')), (err: GatewayError) => err.code === 'upstream_error');
  });

  test('log probabilities come back as watsonx sends them; no usage stays absent', () => {
    const logprobs = { content: [{ token: 'x', logprob: -0.1, bytes: [120], top_logprobs: [] }] };
    const c = translator().response(Buffer.from(JSON.stringify({ choices: [{ index: 0, message: { content: 'x' }, finish_reason: 'stop', logprobs }] })));
    assert.deepEqual(c.choices[0]!.logprobs, logprobs);
    assert.equal(c.usage, undefined);
  });
});

// ---------------------------------------------------------------------------------------------
// Streams.

interface Folded {
  content: string;
  reasoning: string;
  tools: Array<{ id: string; name: string; arguments: string }>;
  finish: string[];
}

/** What an OpenAI client assembles from the chunks, with the invariants OpenAI's streams hold. */
function fold(chunks: ChatCompletionChunk[], includeUsage: boolean): { choices: Folded[]; usage: ChatCompletionChunk['usage'] } {
  const choices: Folded[] = [];
  let usage: ChatCompletionChunk['usage'];
  for (const [n, chunk] of chunks.entries()) {
    assert.equal(chunk.id, 'chatcmpl-gw');
    assert.equal(chunk.object, 'chat.completion.chunk');
    assert.equal(chunk.model, 'my-alias-model');
    assert.equal(chunk.created, 1700000000);
    if (chunk.choices.length === 0) {
      assert.equal(n, chunks.length - 1, 'the usage chunk is the last');
      usage = chunk.usage;
      continue;
    }
    if (includeUsage) assert.equal(chunk.usage, null);
    else assert.equal('usage' in chunk, false);
    assert.equal(chunk.choices.length, 1);
    const c = chunk.choices[0]!;
    const f = (choices[c.index] ??= { content: '', reasoning: '', tools: [], finish: [] });
    const delta = c.delta as typeof c.delta & { reasoning_content?: string };
    assert.ok(Object.keys(delta).length > 0 || c.finish_reason !== null, 'no empty chunks');
    f.content += delta.content ?? '';
    f.reasoning += delta.reasoning_content ?? '';
    for (const t of delta.tool_calls ?? []) {
      if (t.id !== undefined) {
        assert.equal(t.type, 'function');
        assert.equal(typeof t.function?.name, 'string');
        f.tools[t.index] = { id: t.id, name: t.function!.name!, arguments: t.function?.arguments ?? '' };
      } else {
        assert.equal(t.function?.name, undefined, 'the name comes once');
        f.tools[t.index]!.arguments += t.function?.arguments ?? '';
      }
    }
    if (c.finish_reason !== null) f.finish.push(c.finish_reason);
  }
  return { choices, usage };
}

const GRANITE_TEXT =
  '<think>The translation of "Hello" in Italian is straightforward. "Hello" in English directly translates to "Ciao" in Italian, which is a common informal greeting. For a more formal context, "Buongiorno" can be used, meaning "Good day." However, since the request is for a direct translation of "Hello," "Ciao" is the most appropriate response.</think><response>### Translation:\n\n"Hello" in Italian is **Ciao**. \n\nThis is the informal equivalent, widely used in everyday conversation. For a formal greeting, one would say "Buongiorno," but given the direct translation request, "Ciao" is the most fitting response.</response>';
const SUM_ARGS = '{\n  "first_number": 2,\n  "second_number": 2\n}';

const STREAMS: Record<string, { choices: Folded[]; usage: [number, number, number] }> = {
  'chat_streaming_response_multiple_choices.txt': {
    choices: [
      { content: 'The capital of Italy is **Rome**.', reasoning: 'User asks: "What is the capitaly of italy?" Should answer: capital of Italy is Rome. Also note typo, but answer accordingly.', tools: [], finish: ['stop'] },
      { content: 'The capital of Italy is **Rome**.', reasoning: 'User asks: "What is the capitaly of italy?" Probably typo for "capital". Answer: Rome. Provide friendly.', tools: [], finish: ['stop'] },
    ],
    usage: [77, 92, 169],
  },
  'chat_streaming_response_multiple_choices_different_finish_reasons.txt': {
    choices: [
      { content: 'The weather in Paris today is sunny with temperatures around 20°C.', reasoning: '', tools: [], finish: ['stop'] },
      { content: 'A very long response that continues with many details about the weather conditions in Paris', reasoning: '', tools: [], finish: ['length'] },
    ],
    usage: [15, 42, 57],
  },
  'chat_streaming_response_multiple_choices_with_tools.txt': {
    choices: [
      { content: 'The result of 2 + 2 is 4.', reasoning: 'User wants to execute 2+2. Use sum function.', tools: [{ id: 'chatcmpl-tool-3f4687763155466daa6c79e21ea31972', name: 'sum', arguments: SUM_ARGS }], finish: ['tool_calls'] },
      { content: 'The result of 2 + 2 is 4.', reasoning: 'We need to compute 2+2. Use sum function.', tools: [{ id: 'chatcmpl-tool-3a69f4eceb9d46278c883fe887e05d7f', name: 'sum', arguments: SUM_ARGS }], finish: ['tool_calls'] },
    ],
    usage: [158, 138, 296],
  },
  'gpt_oss_thinking_streaming_response.txt': {
    choices: [{ content: '"Hello" in Italian is **"ciao"**.', reasoning: 'User wants translation.', tools: [], finish: ['stop'] }],
    usage: [85, 27, 112],
  },
  'granite_thinking_streaming_response.txt': {
    choices: [{ content: GRANITE_TEXT, reasoning: '', tools: [], finish: ['stop'] }],
    usage: [195, 157, 352],
  },
};

function run(bytes: Uint8Array[], includeUsage = true): ChatCompletionChunk[] {
  const t = translator({ model: 'my-alias-model', stream: true, includeUsage });
  const out: ChatCompletionChunk[] = [];
  for (const b of bytes) out.push(...t.push(Buffer.from(b)));
  out.push(...t.end());
  return out;
}

function runError(bytes: Uint8Array): StreamIncomplete {
  try {
    run([bytes]);
  } catch (err) {
    assert.ok(err instanceof StreamIncomplete, String(err));
    return err;
  }
  assert.fail('the stream was accepted as complete');
}

describe('watsonx chat_stream → chat.completion.chunk', { skip: testdataSkip(SUB) }, () => {
  test('every recorded stream has an expectation', () => {
    const files = testdataFiles(SUB, '').filter((f) => f.startsWith('chat_streaming_') || /_thinking_streaming_response\.txt$/.test(f));
    assert.deepEqual(files.sort(), Object.keys(STREAMS).sort());
  });

  for (const [file, want] of Object.entries(STREAMS)) {
    test(`${file}: text, reasoning, tool calls, finish reasons and usage, however the bytes are cut`, () => {
      const bytes = readTestdata(SUB, file);
      const whole = run([bytes]);
      const folded = fold(whole, true);
      assert.deepEqual(folded.choices, want.choices);
      assert.deepEqual(folded.usage, { prompt_tokens: want.usage[0], completion_tokens: want.usage[1], total_tokens: want.usage[2] });
      // The first chunk of each choice opens it as OpenAI's do.
      for (let i = 0; i < want.choices.length; i++) {
        assert.deepEqual(whole.find((c) => c.choices[0]?.index === i)?.choices[0]?.delta, { role: 'assistant', content: '' });
      }
      assert.deepEqual(run(byteByByte(bytes)), whole);
      for (const seed of [1, 2, 3]) assert.deepEqual(run(randomChunks(bytes, seed)), whole, `seed ${seed}`);

      const withoutUsage = run([bytes], false);
      assert.deepEqual(fold(withoutUsage, false), { choices: want.choices, usage: undefined });
    });

    test(`${file}: cut before a choice finished → StreamIncomplete`, () => {
      const text = readTestdata(SUB, file).toString('utf8');
      const firstFinish = text.search(/"finish_reason":"[a-z_]+"/);
      const cut = text.lastIndexOf('id: ', firstFinish);
      assert.match(runError(Buffer.from(text.slice(0, cut))).message, /before choice \d finished/);
      // A cut inside an event leaves half a JSON object.
      assert.match(runError(Buffer.from(text.slice(0, firstFinish))).message, /not a JSON object/);
    });
  }

  test('usage from the stream is what accounting reads', () => {
    const t = translator({ stream: true, includeUsage: false });
    t.push(readTestdata(SUB, 'gpt_oss_thinking_streaming_response.txt'));
    t.end();
    assert.deepEqual(t.usage(), { inputTokens: 85, outputTokens: 27 });
  });

  test('a stream that ends after every choice finished but before the usage chunk is complete', () => {
    const text = readTestdata(SUB, 'gpt_oss_thinking_streaming_response.txt').toString('utf8');
    const usageAt = text.lastIndexOf('id: ');
    const out = run([Buffer.from(text.slice(0, usageAt))]);
    assert.equal(out.at(-1)!.choices[0]!.finish_reason, 'stop');
  });
});

describe('watsonx stream failures and quirks', () => {
  const ev = (data: object, name = 'message') => `id: 1\nevent: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
  const start = ev({ choices: [{ index: 0, finish_reason: null, delta: { role: 'assistant', content: '' } }] });

  test('an error event ends the stream with watsonx\'s message', () => {
    const error = { errors: [{ code: 'downstream_request_failed', message: 'Model inference failed' }], trace: 't', status_code: 500 };
    assert.equal(runError(Buffer.from(start + ev(error, 'error'))).message, 'watsonx stream error: Model inference failed (downstream_request_failed)');
    assert.match(runError(Buffer.from(start + ev(error))).message, /Model inference failed/);
    assert.match(runError(Buffer.from(`${start}event: error\ndata: upstream connect error\n\n`)).message, /upstream connect error/);
  });

  test('finish_reason error or cancelled ends the stream; time_limit is length', () => {
    assert.match(runError(Buffer.from(start + ev({ choices: [{ index: 0, finish_reason: 'error', delta: {} }] }))).message, /finish_reason "error"/);
    assert.match(runError(Buffer.from(start + ev({ choices: [{ index: 0, finish_reason: 'cancelled', delta: {} }] }))).message, /"cancelled"/);
    const out = run([Buffer.from(start + ev({ choices: [{ index: 0, finish_reason: 'time_limit', delta: { content: 'x' } }] }))]);
    assert.deepEqual(out.at(-1)!.choices[0], { index: 0, delta: { content: 'x' }, finish_reason: 'length', logprobs: null });
  });

  test('tool calls without a finish_reason are finished by the usage chunk, as IBM\'s SDK does', () => {
    const call = ev({ choices: [{ index: 0, finish_reason: null, delta: { tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'f', arguments: '{}' } }] } }] });
    const usage = ev({ choices: [], usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 } });
    const out = run([Buffer.from(start + call + usage)]);
    assert.deepEqual(out.slice(-2).map((c) => [c.choices[0]?.finish_reason, c.usage]), [['tool_calls', null], [undefined, { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 }]]);
    // Text without a finish_reason is not finished by it.
    const text = ev({ choices: [{ index: 0, finish_reason: null, delta: { content: 'x' } }] });
    assert.match(runError(Buffer.from(start + text + usage)).message, /before choice 0 finished/);
  });

  test('an empty stream, or one of close events only, is incomplete', () => {
    assert.match(runError(Buffer.alloc(0)).message, /before any choice/);
    assert.match(runError(Buffer.from('event: close\ndata: {}\n\n')).message, /before any choice/);
  });
});

describe('watsonx error bodies', () => {
  test('IBM\'s error body gives the message and code; anything else nothing', () => {
    const body = { errors: [{ code: 'token_quota_reached', message: 'Token quota reached', more_info: 'https://cloud.ibm.com/apidocs/watsonx-ai' }], trace: 'abc', status_code: 429 };
    assert.equal(watsonxErrorMessage(Buffer.from(JSON.stringify(body))), 'Token quota reached (token_quota_reached)');
    assert.equal(watsonxErrorMessage(JSON.stringify({ errors: [{ code: 'a', message: 'one' }, { message: 'two' }] })), 'one (a); two');
    assert.equal(watsonxErrorMessage('{"error":{"message":"gateway said"}}'), 'gateway said');
    assert.equal(watsonxErrorMessage('<html>502</html>'), undefined);
    assert.equal(watsonxErrorMessage('{"errors":[]}'), undefined);
  });
});
