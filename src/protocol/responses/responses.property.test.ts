import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { accumulateResponse } from 'openai/lib/responses/ResponseAccumulator';
import type { ResponseStreamEvent as SdkEvent, Response as SdkResponse } from 'openai/resources/responses/responses';
import { GatewayError } from '../../errors/gateway-error.js';
import { openaiCompatibleChat } from '../../providers/openai-compatible/chat.js';
import { anthropicChat } from '../anthropic-messages/index.js';
import type { ChatCompletion, ChatCompletionChunk, FinishReason } from '../openai.js';
import { checkChatRequest } from '../openai-schema.js';
import { chatToResponse } from './from-chat.js';
import { checkResponsesRequest } from './schema.js';
import { ResponsesStream } from './stream.js';
import { responsesToChat } from './to-chat.js';

/*
 * Properties of the Responses layer (random runs, no fixed seed): whatever a client sends, the
 * schema and the converter answer a 400 or a chat request the chat schema accepts (never a
 * TypeError: a 500); whatever chunks a translator yields, the stream's events are numbered from
 * 0 without gaps, open with created / in_progress, end with exactly one terminal event, and the
 * openai SDK's own accumulator reads them without complaint.
 */

const RUNS = 200;

function onlyRefusals(run: () => void): void {
  try {
    run();
  } catch (err) {
    if (err instanceof GatewayError && err.code === 'invalid_request' && err.status === 400) return;
    throw err;
  }
}

const text = fc.string({ maxLength: 12 });
const anything = fc.oneof(fc.constant(null), fc.integer(), text, fc.boolean(), fc.constant({}), fc.constant([]));

/**
 * Random Responses bodies. `hostile`: each value is sometimes anything (bodies that break the
 * schema at every depth); otherwise every value has its field's type, so most bodies reach the
 * converter and the translators (what they refuse then is what the hub cannot carry).
 */
function requests(hostile: boolean): fc.Arbitrary<Record<string, unknown>> {
  const mostly = (...valid: Array<fc.Arbitrary<unknown>>): fc.Arbitrary<unknown> =>
    hostile ? fc.oneof({ weight: 6, arbitrary: fc.oneof(...valid) }, { weight: 1, arbitrary: anything }) : fc.oneof(...valid);
  const part = mostly(
    fc.record({ type: fc.constant('input_text'), text }),
    fc.record({ type: fc.constant('input_image'), image_url: fc.constantFrom('https://x/y.png', 'data:image/png;base64,AA=='), detail: fc.constantFrom('low', 'auto') }, { requiredKeys: ['type', 'image_url'] }),
    fc.record({ type: fc.constant('input_file'), file_data: fc.constant('data:application/pdf;base64,AA=='), file_id: text, filename: text }, { requiredKeys: ['type'] }),
    ...(hostile ? [fc.record({ type: fc.constantFrom('output_text', 'refusal', 'input_image', 'input_file', 'video'), text, refusal: text, file_url: text }, { requiredKeys: ['type'] })] : []),
  );
  const assistantPart = mostly(fc.record({ type: fc.constant('output_text'), text }), fc.record({ type: fc.constant('refusal'), refusal: text }));
  const content = mostly(text, fc.array(part, { maxLength: 3 }));
  const item = mostly(
    fc.record({ role: fc.constantFrom('user', 'system', 'developer', ...(hostile ? ['tool'] : [])), content }),
    fc.record({ type: fc.constant('message'), role: fc.constant('assistant'), content: mostly(text, fc.array(assistantPart, { maxLength: 2 })), id: fc.option(text) }),
    fc.record({ type: fc.constant('function_call'), call_id: text, name: text, arguments: mostly(text), id: fc.option(text) }, { requiredKeys: hostile ? ['type'] : ['type', 'call_id', 'name', 'arguments'] }),
    fc.record({ type: fc.constant('function_call_output'), call_id: text, output: content }, { requiredKeys: hostile ? ['type'] : ['type', 'call_id', 'output'] }),
    fc.record({ type: fc.constant('reasoning'), id: text, summary: mostly(fc.constant([])) }),
    ...(hostile ? [fc.record({ type: fc.constantFrom('item_reference', 'computer_call', 'web_search_call'), id: text }), fc.record({ id: text })] : []),
  );
  const tool = mostly(
    fc.record({ type: fc.constant('function'), name: text.filter((t) => t !== ''), description: fc.option(text), parameters: mostly(fc.constant({ type: 'object' })), strict: fc.option(fc.boolean()) }, { requiredKeys: hostile ? ['type'] : ['type', 'name'] }),
    ...(hostile ? [fc.record({ type: fc.constantFrom('web_search', 'file_search', 'mcp', 'custom') })] : []),
  );
  return fc.record(
    {
      model: mostly(fc.constant('m')),
      input: mostly(text, fc.array(item, { minLength: 1, maxLength: 6 })),
      instructions: mostly(text),
      tools: mostly(fc.array(tool, { maxLength: 3 })),
      tool_choice: mostly(
        fc.constantFrom('none', 'auto', 'required'),
        fc.record({ type: fc.constantFrom('function', 'allowed_tools', ...(hostile ? ['web_search'] : [])), name: text, mode: fc.constantFrom('auto', 'required'), tools: fc.constant([{ type: 'function', name: 'f' }]) }),
      ),
      text: mostly(fc.record({ format: mostly(fc.record({ type: fc.constantFrom('text', 'json_object') }), fc.record({ type: fc.constant('json_schema'), name: text, schema: fc.constant({ type: 'object' }) })), verbosity: fc.option(text) })),
      max_output_tokens: mostly(fc.integer({ min: hostile ? -2 : 1, max: 5000 })),
      temperature: mostly(fc.double({ noNaN: true, noDefaultInfinity: true, min: 0, max: 1 })),
      reasoning: mostly(fc.record({ effort: fc.option(text), summary: fc.option(text) })),
      metadata: mostly(fc.dictionary(text, text, { maxKeys: hostile ? 18 : 16 })),
      stream: mostly(fc.boolean()),
      truncation: mostly(fc.constantFrom('auto', 'disabled')),
      include: mostly(fc.array(text, { maxLength: 2 })),
      background: hostile ? mostly(fc.boolean()) : fc.constant(false),
      ...(hostile ? { conversation: mostly(text) } : {}),
      store: mostly(fc.boolean()),
    },
    { requiredKeys: ['model'] },
  );
}

describe('the Responses request layer, on random bodies', () => {
  test('hostile bodies: the schema and the converter answer 400 or a chat request the chat schema accepts', () => {
    fc.assert(
      fc.property(requests(true), (body) => {
        onlyRefusals(() => {
          const { chat } = responsesToChat(checkResponsesRequest(body));
          assert.equal(checkChatRequest(chat), chat);
        });
      }),
      { numRuns: RUNS },
    );
  });

  test('well-typed bodies: most convert, always to a chat request the chat schema accepts, never with n', () => {
    let converted = 0;
    fc.assert(
      fc.property(requests(false), (body) => {
        onlyRefusals(() => {
          const { chat, dropped } = responsesToChat(checkResponsesRequest(body));
          converted++;
          assert.equal(checkChatRequest(chat), chat);
          assert.ok(dropped.every((d) => typeof d === 'string'));
          assert.equal('n' in chat, false);
        });
      }),
      { numRuns: RUNS },
    );
    // Only truly unsupported values are refused here (built-in types are not generated): most convert.
    assert.ok(converted > RUNS / 2, `${converted} of ${RUNS} converted`);
    if (process.env['SHOW_RATES'] === '1') console.log(`${converted} of ${RUNS} converted`);
  });

  test('and the translators that read the chat request answer 400 or a native request', () => {
    fc.assert(
      fc.property(fc.oneof(requests(true), requests(false)), (body) => {
        onlyRefusals(() => {
          const { chat } = responsesToChat(checkResponsesRequest(body));
          for (const factory of [anthropicChat, openaiCompatibleChat]) onlyRefusals(() => void factory({ model: 'x', id: 'c', created: 0, stream: chat.stream === true, includeUsage: true }).request(chat));
        });
      }),
      { numRuns: RUNS },
    );
  });
});

const BASE = { id: 'chatcmpl-1', object: 'chat.completion.chunk' as const, created: 0, model: 'p' };
const delta = fc.oneof(
  fc.record({ content: fc.oneof(text, fc.constant(null)) }),
  fc.record({ refusal: text }),
  fc.record({
    tool_calls: fc.array(
      fc.record({ index: fc.integer({ min: 0, max: 2 }), id: fc.option(text, { nil: undefined }), function: fc.record({ name: fc.option(text, { nil: undefined }), arguments: fc.option(text, { nil: undefined }) }, { requiredKeys: [] }) }, { requiredKeys: ['index'] }),
      { maxLength: 2 },
    ),
  }),
  fc.constant({}),
);
const chunk = fc.oneof(
  fc.record({ delta, finish: fc.constantFrom<FinishReason | null>(null, null, null, 'stop', 'length', 'tool_calls', 'content_filter'), index: fc.constantFrom(0, 0, 0, 1) }).map(
    ({ delta: d, finish, index }): ChatCompletionChunk => ({ ...BASE, choices: [{ index, delta: d as ChatCompletionChunk['choices'][number]['delta'], finish_reason: finish, logprobs: null }] }),
  ),
  fc.record({ p: fc.nat(100), c: fc.nat(100) }).map(({ p, c }): ChatCompletionChunk => ({ ...BASE, choices: [], usage: { prompt_tokens: p, completion_tokens: c, total_tokens: p + c } })),
);
const ending = fc.constantFrom('end', 'fail');

describe('ResponsesStream, on random chunk sequences', () => {
  test('numbered from 0, opened once, closed by exactly one terminal event, readable by the SDK accumulator', () => {
    const request = checkResponsesRequest({ model: 'm', input: 'hi', stream: true });
    fc.assert(
      fc.property(fc.array(chunk, { maxLength: 12 }), ending, (chunks, how) => {
        const stream = new ResponsesStream({ id: 'resp_1', createdAt: 0, model: 'm', request });
        const events = [...chunks.flatMap((c) => stream.push(c)), ...(how === 'end' ? stream.end() : stream.fail({ code: 'server_error', message: 'cut' }))];
        assert.deepEqual(events.map((e) => e.sequence_number), events.map((_, i) => i));
        assert.deepEqual(events.slice(0, 2).map((e) => e.type), ['response.created', 'response.in_progress']);
        const terminal = events.filter((e) => e.type === 'response.completed' || e.type === 'response.incomplete' || e.type === 'response.failed');
        assert.equal(terminal.length, 1);
        assert.equal(events.at(-1), terminal[0]);
        const finished = chunks.some((c) => c.choices.some((ch) => ch.index === 0 && ch.finish_reason !== null));
        if (how === 'fail' || !finished) assert.equal(terminal[0]!.type, 'response.failed');
        // Every item added is done before a completed or incomplete response.
        if (terminal[0]!.type !== 'response.failed') {
          const added = events.flatMap((e) => (e.type === 'response.output_item.added' ? [e.output_index] : []));
          const done = events.flatMap((e) => (e.type === 'response.output_item.done' ? [e.output_index] : []));
          assert.deepEqual([...done].sort(), [...added].sort());
        }
        let snapshot: SdkResponse | undefined;
        for (const e of events) snapshot = accumulateResponse(e as unknown as SdkEvent, snapshot);
        assert.equal(snapshot?.status, stream.response().status);
        assert.deepEqual(JSON.parse(JSON.stringify(snapshot?.output)), JSON.parse(JSON.stringify(stream.response().output)));
        // Nothing after the terminal event.
        assert.deepEqual([...stream.push(chunks[0] ?? { ...BASE, choices: [] }), ...stream.end()], []);
      }),
      { numRuns: RUNS },
    );
  });
});

describe('what OpenAI-compatible translators relay as it came (any JSON object)', () => {
  const json = fc.jsonValue({ maxDepth: 4 });
  const oddChunk = fc.record(
    {
      choices: fc.oneof(json, fc.array(fc.record({ index: fc.oneof(fc.constant(0), json), delta: fc.oneof(json, fc.record({ content: json, refusal: json, tool_calls: fc.oneof(json, fc.array(fc.record({ index: json, id: json, function: fc.oneof(json, fc.record({ name: json, arguments: json })) }), { maxLength: 2 })) })), finish_reason: json }), { maxLength: 2 })),
      usage: json,
    },
    { requiredKeys: [] },
  );

  test('a chat answer of any shape becomes a response, never a TypeError', () => {
    const request = checkResponsesRequest({ model: 'm', input: 'hi' });
    fc.assert(
      fc.property(oddChunk, json, (answer, message) => {
        const completion = { ...answer, choices: Array.isArray(answer.choices) ? answer.choices.map((c) => ({ ...(c as object), message })) : answer.choices };
        const r = chatToResponse(completion as unknown as ChatCompletion, { id: 'resp_1', createdAt: 0, model: 'm', request });
        assert.ok(r.output.length >= 1);
        assert.ok(Number.isFinite(r.usage?.total_tokens));
        JSON.stringify(r);
      }),
      { numRuns: RUNS },
    );
  });

  test('chunks of any shape make numbered events and one terminal event, never a TypeError', () => {
    const request = checkResponsesRequest({ model: 'm', input: 'hi', stream: true });
    fc.assert(
      fc.property(fc.array(oddChunk, { maxLength: 8 }), (chunks) => {
        const stream = new ResponsesStream({ id: 'resp_1', createdAt: 0, model: 'm', request });
        const events = [...chunks.flatMap((c) => stream.push({ ...BASE, ...c } as unknown as ChatCompletionChunk)), ...stream.end()];
        assert.deepEqual(events.map((e) => e.sequence_number), events.map((_, i) => i));
        assert.equal(events.filter((e) => e.type === 'response.completed' || e.type === 'response.incomplete' || e.type === 'response.failed').length, 1);
        let snapshot: SdkResponse | undefined;
        for (const e of events) snapshot = accumulateResponse(e as unknown as SdkEvent, snapshot);
      }),
      { numRuns: RUNS },
    );
  });
});
