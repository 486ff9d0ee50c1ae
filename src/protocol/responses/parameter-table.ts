import { GatewayError } from '../../errors/gateway-error.js';
import { renderOutcomeTable } from '../parameter-table.js';
import type { ChatTranslatorFactory } from '../translator.js';
import { checkResponsesRequest } from './schema.js';
import { RESPONSES_FIELD_RULES, responsesToChat } from './to-chat.js';

/**
 * The Responses parameter table of docs/protocol-mode.md, observed as the chat one is
 * (protocol/parameter-table.ts): each sample request goes through the converter and then the
 * provider's chat translator, and the table says what became of the parameter. It cannot drift
 * from the code.
 */

/** One row: a Responses parameter and a request fragment that sets it. */
interface ResponsesSample {
  parameter: string;
  /** The name the converter reports in `dropped` (Responses spelling) and its rule's field. */
  key: string;
  /** The chat parameter it becomes, which the translator may report in its `dropped`. */
  chatKey: string;
  fragment: Record<string, unknown>;
  /** Handled by the route before the converter sees the request (item references, resolved from the gateway's store). */
  route?: 'gateway';
}

const WEATHER = { type: 'function', name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } };
const CALL = { type: 'function_call', call_id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}' };

export const RESPONSES_PARAMETER_SAMPLES: readonly ResponsesSample[] = [
  { parameter: 'input: text', key: 'input', chatKey: 'messages', fragment: { input: 'hi' } },
  { parameter: 'instructions', key: 'instructions', chatKey: 'messages', fragment: { instructions: 'Be brief.' } },
  { parameter: 'input: developer message', key: 'input', chatKey: 'messages', fragment: { input: [{ role: 'developer', content: 'Be brief.' }, { role: 'user', content: 'hi' }] } },
  { parameter: 'input: image (data URL)', key: 'input', chatKey: 'messages', fragment: { input: [{ role: 'user', content: [{ type: 'input_text', text: 'what is this?' }, { type: 'input_image', image_url: 'data:image/png;base64,iVBORw0KGgo=' }] }] } },
  { parameter: 'input: image (https URL)', key: 'input', chatKey: 'messages', fragment: { input: [{ role: 'user', content: [{ type: 'input_text', text: 'what is this?' }, { type: 'input_image', image_url: 'https://example.com/cat.png' }] }] } },
  { parameter: 'input: image (file_id)', key: 'input', chatKey: 'messages', fragment: { input: [{ role: 'user', content: [{ type: 'input_image', file_id: 'file-1' }] }] } },
  { parameter: 'input: file (file_data)', key: 'input', chatKey: 'messages', fragment: { input: [{ role: 'user', content: [{ type: 'input_file', filename: 'a.pdf', file_data: 'data:application/pdf;base64,JVBERi0=' }] }] } },
  {
    parameter: 'input: function_call and function_call_output',
    key: 'input',
    chatKey: 'messages',
    fragment: { tools: [WEATHER], input: [{ role: 'user', content: 'weather?' }, CALL, { type: 'function_call_output', call_id: 'call_1', output: 'sunny' }] },
  },
  { parameter: 'input: reasoning item', key: 'input', chatKey: 'messages', fragment: { input: [{ role: 'user', content: 'hi' }, { type: 'reasoning', id: 'rs_1', summary: [] }, { role: 'assistant', content: 'hello' }, { role: 'user', content: 'again' }] } },
  { parameter: 'input: item_reference', key: 'input', chatKey: 'messages', fragment: { input: [{ type: 'item_reference', id: 'msg_1' }] }, route: 'gateway' },
  { parameter: 'tools: function', key: 'tools', chatKey: 'tools', fragment: { tools: [WEATHER] } },
  { parameter: 'tools: built-in (web_search)', key: 'tools', chatKey: 'tools', fragment: { tools: [{ type: 'web_search' }] } },
  { parameter: 'tool_choice: function', key: 'tool_choice', chatKey: 'tool_choice', fragment: { tools: [WEATHER], tool_choice: { type: 'function', name: 'get_weather' } } },
  { parameter: 'tool_choice: required', key: 'tool_choice', chatKey: 'tool_choice', fragment: { tools: [WEATHER], tool_choice: 'required' } },
  { parameter: 'parallel_tool_calls: false', key: 'parallel_tool_calls', chatKey: 'parallel_tool_calls', fragment: { tools: [WEATHER], parallel_tool_calls: false } },
  { parameter: 'text.format: json_object', key: 'text', chatKey: 'response_format', fragment: { text: { format: { type: 'json_object' } } } },
  { parameter: 'text.format: json_schema', key: 'text', chatKey: 'response_format', fragment: { text: { format: { type: 'json_schema', name: 'answer', schema: { type: 'object', properties: { a: { type: 'string' } } } } } } },
  { parameter: 'text.verbosity', key: 'text', chatKey: 'verbosity', fragment: { text: { verbosity: 'low' } } },
  { parameter: 'max_output_tokens', key: 'max_output_tokens', chatKey: 'max_completion_tokens', fragment: { max_output_tokens: 64 } },
  { parameter: 'temperature', key: 'temperature', chatKey: 'temperature', fragment: { temperature: 0.5 } },
  { parameter: 'top_p', key: 'top_p', chatKey: 'top_p', fragment: { top_p: 0.9 } },
  { parameter: 'reasoning.effort', key: 'reasoning', chatKey: 'reasoning_effort', fragment: { reasoning: { effort: 'low' } } },
  { parameter: 'reasoning.summary', key: 'reasoning.summary', chatKey: 'reasoning_effort', fragment: { reasoning: { summary: 'auto' } } },
  { parameter: 'stream', key: 'stream', chatKey: 'stream', fragment: { stream: true } },
  { parameter: 'store', key: 'store', chatKey: 'store', fragment: { store: true } },
  { parameter: 'previous_response_id', key: 'previous_response_id', chatKey: 'messages', fragment: { previous_response_id: 'resp_1' } },
  { parameter: 'metadata', key: 'metadata', chatKey: 'metadata', fragment: { metadata: { team: 'a' } } },
  { parameter: 'user', key: 'user', chatKey: 'user', fragment: { user: 'user-1234' } },
  { parameter: 'safety_identifier', key: 'safety_identifier', chatKey: 'safety_identifier', fragment: { safety_identifier: 'user-1234' } },
  { parameter: 'prompt_cache_key', key: 'prompt_cache_key', chatKey: 'prompt_cache_key', fragment: { prompt_cache_key: 'k' } },
  { parameter: 'service_tier', key: 'service_tier', chatKey: 'service_tier', fragment: { service_tier: 'auto' } },
  { parameter: 'truncation: auto', key: 'truncation', chatKey: 'truncation', fragment: { truncation: 'auto' } },
  { parameter: 'include', key: 'include', chatKey: 'include', fragment: { include: ['reasoning.encrypted_content'] } },
  { parameter: 'max_tool_calls', key: 'max_tool_calls', chatKey: 'max_tool_calls', fragment: { max_tool_calls: 3 } },
  { parameter: 'top_logprobs', key: 'top_logprobs', chatKey: 'top_logprobs', fragment: { top_logprobs: 2 } },
  { parameter: 'background: true', key: 'background', chatKey: 'background', fragment: { background: true } },
  { parameter: 'conversation', key: 'conversation', chatKey: 'conversation', fragment: { conversation: 'conv_1' } },
];

/** `gateway`: honoured by the gateway itself (the store, the history), nothing sent to the provider. */
export type ResponsesOutcome = 'sent' | 'dropped' | 'refused' | 'gateway';

/**
 * What the converter and then `factory`'s translator do with each sample parameter.
 *
 * @example
 * const column = { name: 'Anthropic', outcomes: observeResponses(anthropicChat, 'claude-sonnet-4-5') };
 * renderResponsesTable([column]);
 */
export function observeResponses(factory: ChatTranslatorFactory, model: string): Map<string, ResponsesOutcome> {
  const outcomes = new Map<string, ResponsesOutcome>();
  for (const sample of RESPONSES_PARAMETER_SAMPLES) outcomes.set(sample.parameter, outcome(sample, factory, model));
  return outcomes;
}

function outcome(sample: ResponsesSample, factory: ChatTranslatorFactory, model: string): ResponsesOutcome {
  // Every sample is a valid request: the schema must accept it, or the sample is wrong.
  const req = checkResponsesRequest({ model, input: 'hi', ...sample.fragment });
  if (sample.route !== undefined) return sample.route;
  const stream = req.stream === true;
  try {
    const { chat, dropped } = responsesToChat(req, []);
    if (dropped.includes(sample.key)) return 'dropped';
    if (RESPONSES_FIELD_RULES[sample.key]?.kind === 'gateway') return 'gateway';
    const native = factory({ model, id: 'chatcmpl-table', created: 0, stream, includeUsage: stream }).request(chat);
    return native.dropped.includes(sample.chatKey) ? 'dropped' : 'sent';
  } catch (err) {
    if (!(err instanceof GatewayError) || err.code !== 'invalid_request') throw err;
    return 'refused';
  }
}

/** The Markdown table: one row per Responses parameter, one column per provider. */
export function renderResponsesTable(columns: ReadonlyArray<{ name: string; outcomes: ReadonlyMap<string, string> }>): string {
  return renderOutcomeTable('parameter', RESPONSES_PARAMETER_SAMPLES, columns);
}
