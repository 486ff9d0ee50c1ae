import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { byteByByte, randomChunks } from '../../../test/helpers/chunks.js';
import { readTestdata, testdataSkip } from '../../../test/helpers/testdata.js';
import { GatewayError } from '../../errors/gateway-error.js';
import type { ChatCompletion, ChatCompletionChunk, ChatRequest } from '../../protocol/openai.js';
import { StreamIncomplete, type TranslatorOptions } from '../../protocol/translator.js';
import { geminiChatParameters, type GenerateContentRequest } from './gemini/request.js';
import { geminiChat } from './openai_to_gemini.js';

const SUB = 'wire/vertex-gemini/mock-responses/vertexai';
const chat = geminiChat({ project: 'my-project', location: 'us-central1' });
const MODEL = 'gemini-2.0-flash';
const WEATHER = { type: 'function' as const, function: { name: 'get_weather', description: 'Current weather', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } };
const HI = [{ role: 'user' as const, content: 'hi' }];
/** A request fragment as a client may send it (wider than the typed ChatRequest on purpose). */
type Body = Record<string, unknown>;

function translator(options: Partial<TranslatorOptions> = {}) {
  return chat({ model: MODEL, id: 'chatcmpl-test', created: 1_700_000_000, stream: false, includeUsage: false, ...options });
}

function translate(body: Body, options: Partial<TranslatorOptions> = {}) {
  const native = translator(options).request({ model: MODEL, messages: HI, ...body } as ChatRequest);
  return { ...native, json: JSON.parse(native.body.toString('utf8')) as GenerateContentRequest };
}

function refusedWith(body: Body, pattern: RegExp, options: Partial<TranslatorOptions> = {}): void {
  assert.throws(
    () => translate(body, options),
    (err: unknown) => err instanceof GatewayError && err.code === 'invalid_request' && pattern.test(err.message),
    `expected a refusal matching ${pattern}`,
  );
}

const user = (text: string) => ({ role: 'user' as const, parts: [{ text }] });

describe('Gemini translator: requests', () => {
  test('the native path names the instance project and location; streaming asks for SSE', () => {
    const unary = translate({});
    assert.equal(unary.path, '/v1/projects/my-project/locations/us-central1/publishers/google/models/gemini-2.0-flash:generateContent');
    assert.equal(unary.headers['accept'], 'application/json');
    assert.equal(unary.headers['content-type'], 'application/json');
    const stream = translate({ stream: true }, { stream: true });
    assert.equal(stream.path, '/v1/projects/my-project/locations/us-central1/publishers/google/models/gemini-2.0-flash:streamGenerateContent?alt=sse');
    assert.equal(stream.headers['accept'], 'text/event-stream');
    assert.deepEqual(unary.json, { contents: [user('hi')] });
    assert.deepEqual(unary.dropped, []);
    const global = geminiChat({ project: 'p-123456', location: 'global' })({ model: MODEL, id: 'x', created: 0, stream: false, includeUsage: false });
    assert.match(global.request({ model: MODEL, messages: HI }).path, /^\/v1\/projects\/p-123456\/locations\/global\/publishers\/google\/models\//);
  });

  const MAPPED: Array<{ name: string; body: Body; native: GenerateContentRequest; dropped?: string[] }> = [
    {
      name: 'system and developer messages become systemInstruction, in order',
      body: { messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'hi' }, { role: 'developer', content: [{ type: 'text', text: 'Use French.' }] }] },
      native: { contents: [user('hi')], systemInstruction: { parts: [{ text: 'Be brief.' }, { text: 'Use French.' }] } },
    },
    {
      name: 'user/assistant turns become user/model; consecutive same-role messages merge; empty text is skipped',
      body: {
        messages: [
          { role: 'user', content: 'one' },
          { role: 'user', content: [{ type: 'text', text: 'two' }, { type: 'text', text: '' }] },
          { role: 'assistant', content: '' },
          { role: 'assistant', content: [{ type: 'text', text: 'three' }, { type: 'refusal', refusal: 'no' }] },
          { role: 'user', content: 'four' },
        ],
      },
      native: { contents: [{ role: 'user', parts: [{ text: 'one' }, { text: 'two' }] }, { role: 'model', parts: [{ text: 'three' }, { text: 'no' }] }, user('four')] },
    },
    {
      name: 'messages[].name has no equivalent: dropped',
      body: { messages: [{ role: 'user', content: 'hi', name: 'alice' }] },
      native: { contents: [user('hi')] },
      dropped: ['messages[].name'],
    },
    {
      name: 'a data: URL image travels inline; detail is dropped',
      body: { messages: [{ role: 'user', content: [{ type: 'text', text: 'what?' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=', detail: 'high' } }] }] },
      native: { contents: [{ role: 'user', parts: [{ text: 'what?' }, { inlineData: { mimeType: 'image/png', data: 'iVBORw0KGgo=' } }] }] },
      dropped: ['image_url.detail'],
    },
    {
      name: 'gs:// and https:// images become fileData, typed by their extension',
      body: {
        messages: [
          {
            role: 'user',
            content: [
              { type: 'image_url', image_url: { url: 'gs://bucket/cat.PNG' } },
              { type: 'image_url', image_url: { url: 'https://example.com/a/dog.jpg?size=large#top' } },
              { type: 'image_url', image_url: { url: 'https://example.com/b.webp' } },
            ],
          },
        ],
      },
      native: {
        contents: [
          {
            role: 'user',
            parts: [
              { fileData: { mimeType: 'image/png', fileUri: 'gs://bucket/cat.PNG' } },
              { fileData: { mimeType: 'image/jpeg', fileUri: 'https://example.com/a/dog.jpg?size=large#top' } },
              { fileData: { mimeType: 'image/webp', fileUri: 'https://example.com/b.webp' } },
            ],
          },
        ],
      },
    },
    {
      name: 'input_audio and inline files become inlineData',
      body: {
        messages: [
          {
            role: 'user',
            content: [
              { type: 'input_audio', input_audio: { data: 'UklGRg==', format: 'wav' } },
              { type: 'file', file: { file_data: 'data:application/pdf;base64,JVBERi0=', filename: 'a.pdf' } },
            ],
          },
        ],
      } as Record<string, unknown>,
      native: { contents: [{ role: 'user', parts: [{ inlineData: { mimeType: 'audio/wav', data: 'UklGRg==' } }, { inlineData: { mimeType: 'application/pdf', data: 'JVBERi0=' } }] }] },
    },
    {
      name: 'tool calls become functionCall parts; tool results functionResponse parts named after the call, merged into one user turn',
      body: {
        tools: [WEATHER],
        messages: [
          { role: 'user', content: 'weather in Paris and Rome?' },
          {
            role: 'assistant',
            content: 'Let me check.',
            tool_calls: [
              { id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
              { id: 'call_b', type: 'function', function: { name: 'get_time', arguments: '' } },
            ],
          },
          { role: 'tool', tool_call_id: 'call_b', content: '12:00' },
          { role: 'tool', tool_call_id: 'call_a', content: [{ type: 'text', text: '{"temp":' }, { type: 'text', text: '21}' }] },
          { role: 'user', content: 'thanks' },
        ],
      },
      native: {
        contents: [
          user('weather in Paris and Rome?'),
          {
            role: 'model',
            parts: [{ text: 'Let me check.' }, { functionCall: { name: 'get_weather', args: { city: 'Paris' } } }, { functionCall: { name: 'get_time', args: {} } }],
          },
          {
            role: 'user',
            parts: [
              { functionResponse: { name: 'get_time', response: { output: '12:00' } } },
              { functionResponse: { name: 'get_weather', response: { output: '{"temp":21}' } } },
              { text: 'thanks' },
            ],
          },
        ],
        tools: [{ functionDeclarations: [{ name: 'get_weather', description: 'Current weather', parameters: WEATHER.function.parameters }] }],
      },
    },
    {
      name: 'generation parameters map to generationConfig; max_completion_tokens wins over max_tokens',
      body: { max_tokens: 10, max_completion_tokens: 20, temperature: 1.5, top_p: 0.9, stop: 'END', n: 2, presence_penalty: 0.5, frequency_penalty: -0.5, seed: 7 },
      native: {
        contents: [user('hi')],
        generationConfig: { maxOutputTokens: 20, temperature: 1.5, topP: 0.9, stopSequences: ['END'], candidateCount: 2, presencePenalty: 0.5, frequencyPenalty: -0.5, seed: 7 },
      },
    },
    {
      name: 'max_tokens alone, and stop as a list',
      body: { max_tokens: 10, stop: ['a', 'b'] },
      native: { contents: [user('hi')], generationConfig: { maxOutputTokens: 10, stopSequences: ['a', 'b'] } },
    },
    {
      name: 'response_format json_object asks for JSON',
      body: { response_format: { type: 'json_object' } },
      native: { contents: [user('hi')], generationConfig: { responseMimeType: 'application/json' } },
    },
    {
      name: 'response_format json_schema asks for JSON with the schema as is',
      body: { response_format: { type: 'json_schema', json_schema: { name: 'answer', strict: true, schema: { type: 'object', properties: { a: { type: 'string' } } } } } },
      native: { contents: [user('hi')], generationConfig: { responseMimeType: 'application/json', responseSchema: { type: 'object', properties: { a: { type: 'string' } } } } },
    },
    {
      name: 'response_format text is the default',
      body: { response_format: { type: 'text' } },
      native: { contents: [user('hi')] },
    },
    {
      name: 'tools without parameters or description; strict is dropped',
      body: { tools: [{ type: 'function', function: { name: 'now', strict: true } }] },
      native: { contents: [user('hi')], tools: [{ functionDeclarations: [{ name: 'now' }] }] },
      dropped: ['tools[].function.strict'],
    },
    {
      name: 'tool_choice auto → AUTO',
      body: { tools: [WEATHER], tool_choice: 'auto' },
      native: { contents: [user('hi')], tools: [{ functionDeclarations: [{ name: 'get_weather', description: 'Current weather', parameters: WEATHER.function.parameters }] }], toolConfig: { functionCallingConfig: { mode: 'AUTO' } } },
    },
    {
      name: 'tool_choice none → NONE',
      body: { tools: [WEATHER], tool_choice: 'none' },
      native: { contents: [user('hi')], tools: [{ functionDeclarations: [{ name: 'get_weather', description: 'Current weather', parameters: WEATHER.function.parameters }] }], toolConfig: { functionCallingConfig: { mode: 'NONE' } } },
    },
    {
      name: 'tool_choice required → ANY',
      body: { tools: [WEATHER], tool_choice: 'required' },
      native: { contents: [user('hi')], tools: [{ functionDeclarations: [{ name: 'get_weather', description: 'Current weather', parameters: WEATHER.function.parameters }] }], toolConfig: { functionCallingConfig: { mode: 'ANY' } } },
    },
    {
      name: 'tool_choice naming a function → ANY limited to it',
      body: { tools: [WEATHER], tool_choice: { type: 'function', function: { name: 'get_weather' } } },
      native: {
        contents: [user('hi')],
        tools: [{ functionDeclarations: [{ name: 'get_weather', description: 'Current weather', parameters: WEATHER.function.parameters }] }],
        toolConfig: { functionCallingConfig: { mode: 'ANY', allowedFunctionNames: ['get_weather'] } },
      },
    },
    {
      name: 'tool_choice auto or none without tools changes nothing',
      body: { tool_choice: 'none', tools: [] },
      native: { contents: [user('hi')] },
    },
    {
      name: 'parallel_tool_calls: false cannot be honoured: dropped',
      body: { tools: [WEATHER], parallel_tool_calls: false },
      native: { contents: [user('hi')], tools: [{ functionDeclarations: [{ name: 'get_weather', description: 'Current weather', parameters: WEATHER.function.parameters }] }] },
      dropped: ['parallel_tool_calls'],
    },
    {
      name: 'parameters without an effect on Gemini are dropped and reported',
      body: {
        user: 'u-1', metadata: { team: 'a' }, store: true, service_tier: 'auto', reasoning_effort: 'low', prediction: { type: 'content', content: 'x' },
        prompt_cache_key: 'k', safety_identifier: 's', verbosity: 'low', logit_bias: { '50256': -100 },
      },
      native: { contents: [user('hi')] },
      dropped: ['user', 'metadata', 'store', 'service_tier', 'reasoning_effort', 'prediction', 'prompt_cache_key', 'safety_identifier', 'verbosity', 'logit_bias'],
    },
    {
      name: 'values that change nothing (and nulls) are neither dropped nor refused',
      body: {
        logprobs: false, top_logprobs: 0, modalities: ['text'], store: false, parallel_tool_calls: true, temperature: null, max_tokens: null, stop: null,
        n: null, tools: undefined, tool_choice: null, response_format: null, user: null, audio: null, functions: null, stream_options: null,
      } as Record<string, unknown>,
      native: { contents: [user('hi')] },
    },
  ];

  for (const c of MAPPED) {
    test(c.name, () => {
      const out = translate(c.body);
      assert.deepEqual(out.json, c.native);
      assert.deepEqual(out.dropped, c.dropped ?? []);
    });
  }

  const REFUSED: Array<{ name: string; body: Body; error: RegExp }> = [
    { name: 'logprobs', body: { logprobs: true }, error: /logprobs/ },
    { name: 'top_logprobs', body: { top_logprobs: 3 }, error: /logprobs/ },
    { name: 'functions (deprecated)', body: { functions: [WEATHER.function] }, error: /use "tools"/ },
    { name: 'function_call (deprecated)', body: { function_call: 'auto' }, error: /use "tools"/ },
    { name: 'audio output', body: { audio: { voice: 'alloy', format: 'mp3' } }, error: /audio/ },
    { name: 'modalities other than text', body: { modalities: ['text', 'audio'] }, error: /modalities/ },
    { name: 'web_search_options', body: { web_search_options: {} }, error: /web_search_options/ },
    { name: 'an unknown parameter', body: { frobnicate: 1 }, error: /unknown parameter "frobnicate"/ },
    { name: 'an http:// image', body: { messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'http://example.com/a.png' } }] }] }, error: /data: URLs \(base64\), gs:\/\/ or https:\/\// },
    { name: 'an image URL whose extension says nothing', body: { messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://example.com/image?id=3' } }] }] }, error: /extension/ },
    { name: 'an image URL with an unknown extension', body: { messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'gs://b/a.tiff' } }] }] }, error: /extension/ },
    { name: 'a data: URL that is not base64', body: { messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:image/png,abc' } }] }] }, error: /base64/ },
    { name: 'an image data: URL that is not an image', body: { messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:text/plain;base64,aGk=' } }] }] }, error: /image\/\* media type/ },
    { name: 'an image in a system message', body: { messages: [{ role: 'system', content: [{ type: 'image_url', image_url: { url: 'data:image/png;base64,AA==' } }] }, ...HI] }, error: /user messages only/ },
    { name: 'an image in an assistant message', body: { messages: [...HI, { role: 'assistant', content: [{ type: 'image_url', image_url: { url: 'data:image/png;base64,AA==' } }] }] }, error: /user messages only/ },
    { name: 'an unknown content part', body: { messages: [{ role: 'user', content: [{ type: 'video', video: {} }] }] }, error: /"video" are not supported/ },
    { name: 'audio in a format Gemini is not told about', body: { messages: [{ role: 'user', content: [{ type: 'input_audio', input_audio: { data: 'AA==', format: 'flac' } }] }] }, error: /wav or mp3/ },
    { name: 'a file by id', body: { messages: [{ role: 'user', content: [{ type: 'file', file: { file_id: 'file-1' } }] }] }, error: /not file_id/ },
    { name: 'a tool result for no earlier call', body: { messages: [...HI, { role: 'tool', tool_call_id: 'call_x', content: 'r' }] }, error: /does not match a tool call/ },
    { name: 'a tool result without an id', body: { messages: [...HI, { role: 'tool', content: 'r' }] }, error: /tool_call_id is required/ },
    { name: 'tool call arguments that are not JSON', body: { messages: [...HI, { role: 'assistant', content: null, tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '{oops' } }] }] }, error: /not valid JSON/ },
    { name: 'tool call arguments that are not an object', body: { messages: [...HI, { role: 'assistant', content: null, tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '[1]' } }] }] }, error: /must be a JSON object/ },
    { name: 'tool_choice required without tools', body: { tool_choice: 'required' }, error: /needs "tools"/ },
    { name: 'tool_choice naming an unknown function', body: { tools: [WEATHER], tool_choice: { type: 'function', function: { name: 'other' } } }, error: /not among "tools"/ },
    { name: 'tool_choice allowed_tools', body: { tools: [WEATHER], tool_choice: { type: 'allowed_tools', allowed_tools: { mode: 'auto', tools: [] } } as never }, error: /not supported/ },
    { name: 'a tool that is not a function', body: { tools: [{ type: 'custom', custom: { name: 'x' } } as never] }, error: /only function tools/ },
    { name: 'an unknown response_format', body: { response_format: { type: 'xml' } as never }, error: /response_format type "xml"/ },
    { name: 'n = 0', body: { n: 0 }, error: /positive integer/ },
    { name: 'n = 1.5', body: { n: 1.5 }, error: /positive integer/ },
    { name: 'a temperature that is not a number', body: { temperature: 'hot' as never }, error: /temperature must be a number/ },
    { name: 'an unknown role', body: { messages: [{ role: 'function', content: 'x' } as never] }, error: /role "function"/ },
    { name: 'only system messages', body: { messages: [{ role: 'system', content: 'Be brief.' }] }, error: /at least one user or assistant message/ },
  ];

  for (const c of REFUSED) {
    test(`refused: ${c.name}`, () => refusedWith(c.body, c.error));
  }

  test('a model id that is not one path segment is refused before anything is built', () => {
    for (const model of ['google/gemini-2.0-flash', '../x', 'gemini 2', '']) {
      assert.throws(() => chat({ model, id: 'x', created: 0, stream: false, includeUsage: false }).request({ model, messages: HI }), { code: 'invalid_request' });
    }
  });

  test('geminiChatParameters is what the translator does: each parameter is sent, dropped or refused as declared', () => {
    const SAMPLES: Record<keyof typeof geminiChatParameters, unknown> = {
      model: MODEL, messages: HI, stream: true, stream_options: { include_usage: true }, max_tokens: 5, max_completion_tokens: 5, temperature: 0.3,
      top_p: 0.5, stop: ['x'], n: 2, presence_penalty: 1, frequency_penalty: 1, seed: 3, response_format: { type: 'json_object' }, tools: [WEATHER],
      tool_choice: 'auto', parallel_tool_calls: false, logit_bias: { '1': 1 }, user: 'u', metadata: { a: 'b' }, store: true, service_tier: 'auto',
      reasoning_effort: 'high', prediction: { type: 'content', content: 'x' }, prompt_cache_key: 'k', safety_identifier: 's', verbosity: 'low',
      logprobs: true, top_logprobs: 2, functions: [WEATHER.function], function_call: 'auto', audio: { voice: 'alloy', format: 'mp3' },
      modalities: ['audio'], web_search_options: {},
    };
    const plain = translate({ tools: [WEATHER] });
    for (const [key, rule] of Object.entries(geminiChatParameters)) {
      const value = SAMPLES[key as keyof typeof SAMPLES];
      const body = key === 'tool_choice' ? { tools: [WEATHER], tool_choice: value } : { [key]: value };
      if (rule === 'refused') {
        assert.throws(() => translate(body), { code: 'invalid_request' }, key);
        continue;
      }
      const out = translate(body, { stream: key === 'stream' });
      if (rule === 'dropped') assert.ok(out.dropped.includes(key), `${key} is reported as dropped`);
      else {
        assert.ok(!out.dropped.includes(key), `${key} is not dropped`);
        if (!['model', 'messages', 'stream_options', 'tools', 'tool_choice'].includes(key)) {
          assert.notDeepEqual({ path: out.path, json: out.json }, { path: plain.path, json: { contents: plain.json.contents } }, `${key} changes the native request`);
        }
      }
    }
    assert.notDeepEqual(translate({ tools: [WEATHER], tool_choice: 'required' }).json, plain.json, 'tool_choice changes the native request');
  });
});

// ---------------------------------------------------------------------------------------------
// Non-streaming answers

function answer(name: string, options: Partial<TranslatorOptions> = {}, body?: ChatRequest): ChatCompletion {
  const t = translator(options);
  if (body) t.request(body);
  return t.response(readTestdata(SUB, name));
}

function upstreamErrorFor(name: string, pattern: RegExp): void {
  assert.throws(
    () => answer(name),
    (err: unknown) => err instanceof GatewayError && err.code === 'upstream_error' && pattern.test(err.message),
  );
}

describe('Gemini translator: answers from the recorded Vertex responses', { skip: testdataSkip(SUB) }, () => {
  test('unary-success-basic-reply-short: text, stop, usage; id, created and model from the request', () => {
    const out = answer('unary-success-basic-reply-short.json');
    assert.deepEqual(out, {
      id: 'chatcmpl-test',
      object: 'chat.completion',
      created: 1_700_000_000,
      model: MODEL,
      choices: [{ index: 0, message: { role: 'assistant', content: 'Mountain View, California' }, finish_reason: 'stop', logprobs: null }],
      usage: { prompt_tokens: 6, completion_tokens: 7, total_tokens: 13 },
    });
  });

  test('unary-success-function-call-parallel-calls: three tool calls with distinct call_ ids, finish tool_calls, no content', () => {
    const out = answer('unary-success-function-call-parallel-calls.json');
    const choice = out.choices[0]!;
    assert.equal(choice.finish_reason, 'tool_calls');
    assert.equal(choice.message.content, null);
    const calls = choice.message.tool_calls!;
    assert.deepEqual(calls.map((c) => [c.type, c.function.name, JSON.parse(c.function.arguments)]), [
      ['function', 'sum', { y: 1, x: 2 }],
      ['function', 'sum', { y: 3, x: 4 }],
      ['function', 'sum', { y: 5, x: 6 }],
    ]);
    for (const c of calls) assert.match(c.id, /^call_[A-Za-z0-9_-]{24}$/);
    assert.equal(new Set(calls.map((c) => c.id)).size, 3);
    assert.equal(out.usage, undefined, 'no usageMetadata, no invented usage');
  });

  test('unary-success-function-call-mixed-content: text parts joined beside the calls', () => {
    const choice = answer('unary-success-function-call-mixed-content.json').choices[0]!;
    assert.equal(choice.message.content, 'The sum of [1, 2,3] is');
    assert.deepEqual(choice.message.tool_calls!.map((c) => c.function.arguments), ['{"y":1,"x":2}', '{"y":3,"x":3}']);
    assert.equal(choice.finish_reason, 'tool_calls');
  });

  test('function calls without arguments, and with null values', () => {
    assert.equal(answer('unary-success-function-call-no-arguments.json').choices[0]!.message.tool_calls![0]!.function.arguments, '{}');
    assert.equal(answer('unary-success-function-call-null.json').choices[0]!.message.tool_calls![0]!.function.arguments, '{"original_title":"String","season":null}');
  });

  test('unary-success-thinking-reply-thought-summary: thoughts are left out of the content but counted as output', () => {
    const out = answer('unary-success-thinking-reply-thought-summary.json');
    assert.equal(out.choices[0]!.message.content, 'Mountain View');
    assert.deepEqual(out.usage, { prompt_tokens: 13, completion_tokens: 41, total_tokens: 54 });
  });

  test('unary-success-implicit-caching: usage adds thinking to the candidates, total matches totalTokenCount', () => {
    assert.deepEqual(answer('unary-success-implicit-caching.json').usage, { prompt_tokens: 12013, completion_tokens: 88, total_tokens: 12101 });
  });

  test('unary-success-empty-text-part and -empty-part: an empty text is "", a candidate without index is its position, non-text parts are left out', () => {
    const empty = answer('unary-success-empty-text-part.json');
    assert.equal(empty.choices[0]!.message.content, '');
    assert.deepEqual(empty.usage, { prompt_tokens: 8, completion_tokens: 0, total_tokens: 8 });
    const image = answer('unary-success-empty-part.json').choices[0]!;
    assert.equal(image.index, 0);
    assert.match(image.message.content!, /^I can certainly help you with that!/);
    assert.equal(image.finish_reason, 'stop');
  });

  test('unary-failure-finish-reason-safety(-no-content): content_filter, keeping what was produced', () => {
    const none = answer('unary-failure-finish-reason-safety-no-content.json');
    assert.deepEqual(none.choices, [{ index: 0, message: { role: 'assistant', content: null }, finish_reason: 'content_filter', logprobs: null }]);
    assert.deepEqual(none.usage, { prompt_tokens: 8, completion_tokens: 0, total_tokens: 8 });
    const some = answer('unary-failure-finish-reason-safety.json');
    assert.equal(some.choices[0]!.finish_reason, 'content_filter');
  });

  test('unary-failure-prompt-blocked-safety(-with-message): a content_filter answer with the reason as refusal, one choice per n', () => {
    assert.deepEqual(answer('unary-failure-prompt-blocked-safety.json').choices, [
      { index: 0, message: { role: 'assistant', content: null, refusal: 'the provider blocked the prompt (SAFETY)' }, finish_reason: 'content_filter', logprobs: null },
    ]);
    const two = answer('unary-failure-prompt-blocked-safety-with-message.json', {}, { model: MODEL, messages: HI, n: 2 });
    assert.deepEqual(two.choices.map((c) => [c.index, c.finish_reason, c.message.refusal]), [
      [0, 'content_filter', 'the provider blocked the prompt (SAFETY): Reasons'],
      [1, 'content_filter', 'the provider blocked the prompt (SAFETY): Reasons'],
    ]);
    assert.equal(answer('unary-failure-unknown-enum-prompt-blocked.json').choices[0]!.finish_reason, 'content_filter');
  });

  test('unary-failure-unknown-enum-finish-reason: a finishReason newer than this code is a stop', () => {
    const choice = answer('unary-failure-unknown-enum-finish-reason.json').choices[0]!;
    assert.deepEqual([choice.message.content, choice.finish_reason], ['Some text', 'stop']);
  });

  test('answers that hold no answer are a 502 upstream_error', () => {
    upstreamErrorFor('unary-failure-invalid-response.json', /without candidates/);
    upstreamErrorFor('unary-failure-empty-content.json', /neither content nor a finishReason/);
    upstreamErrorFor('unary-failure-malformed-content.json', /neither content nor a finishReason/);
    upstreamErrorFor('unary-failure-invalid-location-url-not-found.html', /not JSON/);
    upstreamErrorFor('unary-failure-quota-exceeded.json', /^RESOURCE_EXHAUSTED: Quota exceeded/);
  });

  test('every recorded successful generateContent answer translates', () => {
    const names = ['basic-reply-long', 'basic-response-long-usage-metadata', 'citations-nolicense', 'citations', 'code-execution', 'constraint-decoding-json', 'function-call-complex-json-literal',
      'function-call-different-parallel-calls', 'function-call-empty-arguments', 'function-call-json-literal', 'function-call-with-arguments', 'google-maps-grounding',
      'google-search-grounding', 'including-severity', 'missing-safety-ratings', 'partial-usage-metadata', 'quote-reply',
      'unknown-enum-safety-ratings', 'url-context-missing-retrievedurl', 'url-context-mixed-validity', 'url-context', 'usage-metadata'];
    for (const name of names) {
      const out = answer(`unary-success-${name}.json`);
      assert.equal(out.choices.length, 1, name);
      const choice = out.choices[0]!;
      assert.ok(choice.finish_reason === 'stop' || choice.finish_reason === 'tool_calls', name);
      assert.ok(choice.message.content !== null || choice.message.tool_calls !== undefined, name);
    }
    assert.deepEqual(answer('unary-success-partial-usage-metadata.json').usage, { prompt_tokens: 6, completion_tokens: 0, total_tokens: 6 });
    // An image-only answer (an image model): the image is not passed on, so there is no content.
    const image = answer('unary-success-image-invalid-safety-ratings.json').choices[0]!;
    assert.deepEqual([image.message.content, image.finish_reason], [null, 'stop']);
  });

  test('errorMessage reads Google error bodies ({"error": {code, message, status}}), plain or in an array; HTML has none', () => {
    const t = translator();
    assert.match(t.errorMessage(readTestdata(SUB, 'unary-failure-quota-exceeded.json'))!, /^RESOURCE_EXHAUSTED: Quota exceeded for quota metric/);
    assert.match(t.errorMessage(readTestdata(SUB, 'unary-failure-iam-permission-denied.json'))!, /^PERMISSION_DENIED: Permission 'aiplatform.endpoints.predict' denied/);
    assert.equal(t.errorMessage(readTestdata(SUB, 'streaming-failure-image-rejected.txt')), 'INVALID_ARGUMENT: Request contains an invalid argument.');
    assert.equal(t.errorMessage(Buffer.from('[{"error":{"code":404,"message":"nope","status":"NOT_FOUND"}}]')), 'NOT_FOUND: nope');
    assert.equal(t.errorMessage(readTestdata(SUB, 'unary-failure-invalid-location-url-not-found.html')), undefined);
    assert.equal(t.errorMessage(Buffer.from('{"error":{}}')), undefined);
  });
});

describe('Gemini translator: synthetic answers', () => {
  const respond = (obj: unknown, body?: Partial<ChatRequest>) => {
    const t = translator();
    if (body) t.request({ model: MODEL, messages: HI, ...body } as ChatRequest);
    return t.response(Buffer.from(JSON.stringify(obj)));
  };

  test('several candidates become choices in index order; MAX_TOKENS is length; filter reasons are content_filter', () => {
    const out = respond({
      candidates: [
        { content: { role: 'model', parts: [{ text: 'b' }] }, finishReason: 'MAX_TOKENS', index: 1 },
        // proto3 JSON leaves a zero index out
        { content: { role: 'model', parts: [{ text: 'a' }] }, finishReason: 'STOP' },
        { content: { role: 'model', parts: [{ text: 'c' }] }, finishReason: 'RECITATION', index: 2 },
      ],
      usageMetadata: { promptTokenCount: 3, candidatesTokenCount: 3, toolUsePromptTokenCount: 2 },
    });
    assert.deepEqual(out.choices.map((c) => [c.index, c.message.content, c.finish_reason]), [[0, 'a', 'stop'], [1, 'b', 'length'], [2, 'c', 'content_filter']]);
    assert.deepEqual(out.usage, { prompt_tokens: 5, completion_tokens: 3, total_tokens: 8 });
  });

  for (const reason of ['SAFETY', 'RECITATION', 'BLOCKLIST', 'PROHIBITED_CONTENT', 'SPII']) {
    test(`finishReason ${reason} → content_filter, even with a function call`, () => {
      const out = respond({ candidates: [{ content: { parts: [{ functionCall: { name: 'f', args: {} } }] }, finishReason: reason }] });
      assert.equal(out.choices[0]!.finish_reason, 'content_filter');
    });
  }

  test('MALFORMED_FUNCTION_CALL is an unusable answer: 502 with Google\'s finishMessage', () => {
    assert.throws(() => respond({ candidates: [{ finishReason: 'MALFORMED_FUNCTION_CALL', finishMessage: 'Malformed function call: print(' }] }), {
      code: 'upstream_error',
      message: "the model's answer is unusable (MALFORMED_FUNCTION_CALL): Malformed function call: print(",
    });
  });

  test('a 2xx body holding an error object is an upstream error with its message', () => {
    assert.throws(() => respond({ error: { code: 500, message: 'Internal error', status: 'INTERNAL' } }), { code: 'upstream_error', message: 'INTERNAL: Internal error' });
    assert.throws(() => translator().response(Buffer.from('[]')), { code: 'upstream_error' });
  });

  test('usage() reports what accounting needs', () => {
    const t = translator();
    assert.equal(t.usage(), undefined);
    t.response(Buffer.from(JSON.stringify({ candidates: [{ content: { parts: [{ text: 'x' }] }, finishReason: 'STOP' }], usageMetadata: { promptTokenCount: 4, candidatesTokenCount: 2, thoughtsTokenCount: 5 } })));
    assert.deepEqual(t.usage(), { inputTokens: 4, outputTokens: 7 });
  });
});

// ---------------------------------------------------------------------------------------------
// Streams

interface StreamResult {
  chunks: ChatCompletionChunk[];
  error: Error | undefined;
}

function runStream(pieces: Iterable<Uint8Array>, options: Partial<TranslatorOptions> = {}, body?: Partial<ChatRequest>): StreamResult {
  const t = translator({ stream: true, includeUsage: true, ...options });
  t.request({ model: MODEL, messages: HI, stream: true, ...body } as ChatRequest);
  const chunks: ChatCompletionChunk[] = [];
  try {
    for (const p of pieces) chunks.push(...t.push(Buffer.from(p)));
    chunks.push(...t.end());
    return { chunks, error: undefined };
  } catch (err) {
    return { chunks, error: err as Error };
  }
}

interface Summary {
  text: Record<number, string>;
  calls: Record<number, Array<{ index: number; name: string | undefined; arguments: string | undefined }>>;
  finish: Record<number, string>;
  usage: unknown;
  error: string | undefined;
}

/**
 * What a client reads from a stream, checking the chunk invariants on the way: per choice the
 * role comes first and once, the finish reason last and once; the usage chunk (choices: []) is
 * the very last.
 */
function summarise(r: StreamResult): Summary {
  const s: Summary = { text: {}, calls: {}, finish: {}, usage: undefined, error: r.error ? `${r.error.name}: ${r.error.message}` : undefined };
  const roles = new Set<number>();
  r.chunks.forEach((chunk, i) => {
    assert.equal(chunk.object, 'chat.completion.chunk');
    assert.equal(chunk.id, 'chatcmpl-test');
    assert.equal(chunk.model, MODEL);
    if (chunk.choices.length === 0) {
      assert.equal(i, r.chunks.length - 1, 'the usage chunk is the last');
      s.usage = chunk.usage;
      return;
    }
    for (const choice of chunk.choices) {
      const n = choice.index;
      assert.ok(!(n in s.finish), `nothing follows choice ${n}'s finish`);
      if (choice.delta.role !== undefined) {
        assert.ok(!roles.has(n), `one role for choice ${n}`);
        roles.add(n);
      } else {
        assert.ok(roles.has(n), `the role of choice ${n} comes first`);
      }
      if (choice.delta.content) s.text[n] = (s.text[n] ?? '') + choice.delta.content;
      for (const call of choice.delta.tool_calls ?? []) {
        assert.match(call.id!, /^call_/);
        (s.calls[n] ??= []).push({ index: call.index, name: call.function?.name, arguments: call.function?.arguments });
      }
      if (choice.finish_reason !== null) s.finish[n] = choice.finish_reason;
    }
  });
  return s;
}

/** The summary, identical however the bytes were cut. */
function streamSummary(bytes: Buffer, options: Partial<TranslatorOptions> = {}, body?: Partial<ChatRequest>): Summary {
  const whole = summarise(runStream([bytes], options, body));
  assert.deepEqual(summarise(runStream(byteByByte(bytes), options, body)), whole, 'byte by byte');
  for (const seed of [1, 2, 3]) assert.deepEqual(summarise(runStream(randomChunks(bytes, seed), options, body)), whole, `random chunks, seed ${seed}`);
  return whole;
}

const recorded = (name: string, options: Partial<TranslatorOptions> = {}, body?: Partial<ChatRequest>) => streamSummary(readTestdata(SUB, name), options, body);

describe('Gemini translator: recorded Vertex streams, cut every way', { skip: testdataSkip(SUB) }, () => {
  test('streaming-success-basic-reply-short', () => {
    assert.deepEqual(recorded('streaming-success-basic-reply-short.txt'), {
      text: { 0: 'Cheyenne' }, calls: {}, finish: { 0: 'stop' }, usage: { prompt_tokens: 6, completion_tokens: 4, total_tokens: 10 }, error: undefined,
    });
  });

  test('streaming-success-basic-reply-long: text joined across events, usage from the last', () => {
    const s = recorded('streaming-success-basic-reply-long.txt');
    assert.match(s.text[0]!, /^Okay, let's brew a decent cup of coffee! Here's a breakdown of how to a little practice, you'll be brewing delicious coffee in no time\.\n$/);
    assert.deepEqual([s.finish, s.usage, s.error], [{ 0: 'stop' }, { prompt_tokens: 12, completion_tokens: 1706, total_tokens: 1718 }, undefined]);
  });

  test('streaming-success-basic-reply-parts and -empty-text-part', () => {
    assert.equal(recorded('streaming-success-basic-reply-parts.txt').text[0], '1 2 3 4 5 6 7 8');
    assert.deepEqual(recorded('streaming-success-empty-text-part.txt'), {
      text: { 0: '1' }, calls: {}, finish: { 0: 'stop' }, usage: { prompt_tokens: 8, completion_tokens: 1, total_tokens: 9 }, error: undefined,
    });
  });

  test('streaming-success-utf8: characters split across chunks come out whole', () => {
    const s = recorded('streaming-success-utf8.txt');
    assert.match(s.text[0]!, /^秋风瑟瑟，叶落纷纷，\n西风残照，寒霜渐浓。/);
    assert.equal(s.finish[0], 'stop');
    assert.ok(!s.text[0]!.includes('\uFFFD'));
  });

  test('streaming-success-function-call-short: one tool call with its arguments whole, finish tool_calls', () => {
    assert.deepEqual(recorded('streaming-success-function-call-short.txt'), {
      text: {}, calls: { 0: [{ index: 0, name: 'getTemperature', arguments: '{"city":"San Jose"}' }] }, finish: { 0: 'tool_calls' }, usage: undefined, error: undefined,
    });
  });

  test('streaming-success-thinking-reply-thought-summary: thoughts left out, counted as output', () => {
    const s = recorded('streaming-success-thinking-reply-thought-summary.txt');
    assert.ok(!s.text[0]!.includes('**Understanding the Core Question**'));
    assert.match(s.text[0]!, /Rayleigh scattering/);
    assert.deepEqual(s.usage, { prompt_tokens: 9, completion_tokens: 1201, total_tokens: 1210 });
  });

  test('streaming-failure-finish-reason-safety: content_filter after the text produced', () => {
    assert.deepEqual(recorded('streaming-failure-finish-reason-safety.txt'), {
      text: { 0: '<redacted>' }, calls: {}, finish: { 0: 'content_filter' }, usage: { prompt_tokens: 10, completion_tokens: 66, total_tokens: 76 }, error: undefined,
    });
  });

  test('streaming-failure-prompt-blocked-safety(-with-message): a content_filter finish, no content', () => {
    for (const name of ['streaming-failure-prompt-blocked-safety.txt', 'streaming-failure-prompt-blocked-safety-with-message.txt']) {
      assert.deepEqual(recorded(name), { text: {}, calls: {}, finish: { 0: 'content_filter' }, usage: undefined, error: undefined }, name);
    }
    assert.deepEqual(recorded('streaming-failure-prompt-blocked-safety.txt', {}, { n: 2 }).finish, { 0: 'content_filter', 1: 'content_filter' });
  });

  test('streaming-failure-error-mid-stream: the bare error object after the events fails the stream with Google\'s message; no finish is sent', () => {
    assert.deepEqual(recorded('streaming-failure-error-mid-stream.txt'), {
      text: { 0: 'First Second ' }, calls: {}, finish: {}, usage: undefined, error: 'StreamIncomplete: CANCELLED: The operation was cancelled.',
    });
  });

  test('streams without a finishReason are incomplete: invalid-json, empty-content, malformed-content, and quotes-escaped (recorded upstream as a success)', () => {
    for (const name of ['streaming-failure-invalid-json.txt', 'streaming-failure-empty-content.txt', 'streaming-failure-malformed-content.txt', 'streaming-success-quotes-escaped.txt']) {
      assert.equal(recorded(name).error, 'StreamIncomplete: the provider stream ended without a finishReason', name);
    }
    assert.match(recorded('streaming-success-quotes-escaped.txt').text[0]!, /^ Pineapples and "bananas" are two different types of fruit\./);
  });

  test('streaming-failure-recitation-no-content: a last event with only RECITATION is a content_filter finish after the text', () => {
    const s = recorded('streaming-failure-recitation-no-content.txt');
    assert.deepEqual([s.text, s.finish, s.error], [{ 0: 'Copyrighted text goes hereMore copyrighted text' }, { 0: 'content_filter' }, undefined]);
  });

  test('streaming-failure-unknown-finish-enum: an unknown finishReason is a stop', () => {
    const s = recorded('streaming-failure-unknown-finish-enum.txt');
    assert.deepEqual([s.finish, s.error], [{ 0: 'stop' }, undefined]);
  });

  test('an error body served as the stream (api-key, http-error, unknown-model) fails it with the message', () => {
    assert.equal(recorded('streaming-failure-api-key.txt').error, 'StreamIncomplete: INVALID_ARGUMENT: API key not valid. Please pass a valid API key.');
    assert.equal(recorded('streaming-failure-http-error.txt').error, 'StreamIncomplete: FAILED_PRECONDITION: $grpcMessage');
    assert.match(recorded('streaming-failure-unknown-model.txt').error!, /^StreamIncomplete: NOT_FOUND: models\/unknown is not found/);
  });

  test('the other recorded successful streams end cleanly', () => {
    for (const name of ['citations', 'code-execution', 'image-invalid-safety-ratings', 'unknown-safety-enum', 'url-context']) {
      const s = recorded(`streaming-success-${name}.txt`);
      assert.deepEqual([s.finish, s.error], [{ 0: 'stop' }, undefined], name);
    }
  });

  test('a stream cut before its last event is incomplete, whatever was said before', () => {
    const bytes = readTestdata(SUB, 'streaming-success-basic-reply-long.txt');
    const cut = bytes.subarray(0, bytes.lastIndexOf('data: '));
    const s = streamSummary(cut);
    assert.deepEqual([s.finish, s.usage, s.error], [{}, undefined, 'StreamIncomplete: the provider stream ended without a finishReason']);
  });

  test('without include_usage there is no usage chunk', () => {
    assert.equal(recorded('streaming-success-basic-reply-short.txt', { includeUsage: false }).usage, undefined);
  });
});

describe('Gemini translator: synthetic streams', () => {
  const sse = (...events: unknown[]) => Buffer.from(events.map((e) => `data: ${JSON.stringify(e)}\r\n\r\n`).join(''));

  test('several candidates stream as separate choices; each finishes once, at the end', () => {
    const bytes = sse(
      { candidates: [{ content: { parts: [{ text: 'a1' }] }, index: 0 }, { content: { parts: [{ text: 'b1' }] }, index: 1 }] },
      { candidates: [{ content: { parts: [{ text: 'a2' }] }, finishReason: 'STOP', index: 0 }] },
      { candidates: [{ content: { parts: [{ text: 'b2' }] }, finishReason: 'MAX_TOKENS', index: 1 }], usageMetadata: { promptTokenCount: 2, candidatesTokenCount: 4 } },
    );
    assert.deepEqual(streamSummary(bytes, {}, { n: 2 }), {
      text: { 0: 'a1a2', 1: 'b1b2' }, calls: {}, finish: { 0: 'stop', 1: 'length' }, usage: { prompt_tokens: 2, completion_tokens: 4, total_tokens: 6 }, error: undefined,
    });
  });

  test('a candidate that never finishes makes the stream incomplete even if another did', () => {
    const bytes = sse({ candidates: [{ content: { parts: [{ text: 'a' }] }, finishReason: 'STOP', index: 0 }, { content: { parts: [{ text: 'b' }] }, index: 1 }] });
    assert.equal(streamSummary(bytes).error, 'StreamIncomplete: the provider stream ended without a finishReason');
  });

  test('text and several function calls in one stream: tool call indexes count per choice', () => {
    const bytes = sse(
      { candidates: [{ content: { parts: [{ text: 'Checking.' }, { functionCall: { name: 'a', args: { x: 1 } } }] } }] },
      { candidates: [{ content: { parts: [{ functionCall: { name: 'b' } }] }, finishReason: 'STOP' }] },
    );
    const s = streamSummary(bytes);
    assert.deepEqual([s.text, s.calls, s.finish], [{ 0: 'Checking.' }, { 0: [{ index: 0, name: 'a', arguments: '{"x":1}' }, { index: 1, name: 'b', arguments: '{}' }] }, { 0: 'tool_calls' }]);
  });

  test('an event with an error object fails the stream with its message', () => {
    const bytes = sse({ candidates: [{ content: { parts: [{ text: 'a' }] } }] }, { error: { code: 429, message: 'Resource exhausted', status: 'RESOURCE_EXHAUSTED' } });
    assert.deepEqual([streamSummary(bytes).text, streamSummary(bytes).error], [{ 0: 'a' }, 'StreamIncomplete: RESOURCE_EXHAUSTED: Resource exhausted']);
  });

  test('MALFORMED_FUNCTION_CALL at the end of a stream fails it', () => {
    const r = runStream([sse({ candidates: [{ finishReason: 'MALFORMED_FUNCTION_CALL' }] })]);
    assert.ok(r.error instanceof GatewayError && r.error.code === 'upstream_error');
  });

  test('an empty stream, text that is not an event, and an event that is not an object are incomplete', () => {
    assert.ok(runStream([]).error instanceof StreamIncomplete);
    assert.equal(runStream([Buffer.from('<html>oops</html>')]).error?.message, 'the provider stream ended with text that is not an event');
    assert.equal(runStream([Buffer.from('data: [1]\n\n')]).error?.message, 'the provider sent an event that is not a JSON object');
  });

  test('LF-only line ends, comments and unused SSE fields are read like Google\'s CRLF', () => {
    const text = ': keep-alive\nevent: message\nid: 1\ndata: {"candidates":[{"content":{"parts":[{"text":"x"}]},"finishReason":"STOP"}]}\n\n';
    assert.deepEqual(streamSummary(Buffer.from(text)).text, { 0: 'x' });
  });
});
