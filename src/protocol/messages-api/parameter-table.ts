import { GatewayError } from '../../errors/gateway-error.js';
import { renderOutcomeTable, type Outcome } from '../parameter-table.js';
import type { ChatTranslatorFactory } from '../translator.js';
import { checkMessagesRequest, type MessagesRequest } from './schema.js';
import { messagesToChat } from './to-chat.js';

/**
 * The Messages API's parameter table for docs/protocol-mode.md, observed as the chat one is
 * (protocol/parameter-table.ts): each sample Messages parameter goes through the converter and
 * then the provider's chat translator, and is `refused` (by either), `dropped` (reported by
 * either) or `sent`. Backends reached directly (Anthropic, Claude on Bedrock and Vertex) take
 * the body nearly as it is and have no column here.
 */

/** One row: a Messages parameter, a request fragment that sets it, and the names it is reported under. */
interface MessagesSample {
  parameter: string;
  /** The name the converter reports in `dropped`. */
  key: string;
  /** The chat parameters it becomes, as the provider's translator reports them in `dropped`. */
  chatKeys: readonly string[];
  fragment: Partial<MessagesRequest> & Record<string, unknown>;
}

const WEATHER = { name: 'get_weather', description: 'Weather in a city', input_schema: { type: 'object' as const, properties: { city: { type: 'string' } } } };
const PNG = 'iVBORw0KGgo=';

export const MESSAGES_PARAMETER_SAMPLES: readonly MessagesSample[] = [
  { parameter: 'system', key: 'system', chatKeys: ['messages'], fragment: { system: 'Be brief.' } },
  { parameter: 'messages: image (base64)', key: 'messages', chatKeys: ['messages'], fragment: { messages: [{ role: 'user', content: [{ type: 'text', text: 'what is this?' }, { type: 'image', source: { type: 'base64', media_type: 'image/png', data: PNG } }] }] } },
  { parameter: 'messages: image (url)', key: 'messages', chatKeys: ['messages'], fragment: { messages: [{ role: 'user', content: [{ type: 'text', text: 'what is this?' }, { type: 'image', source: { type: 'url', url: 'https://example.com/cat.png' } }] }] } },
  { parameter: 'messages: document (PDF)', key: 'messages', chatKeys: ['messages'], fragment: { messages: [{ role: 'user', content: [{ type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: 'JVBERi0=' } }, { type: 'text', text: 'summarise' }] }] } },
  {
    parameter: 'messages: tool_use and tool_result',
    key: 'messages',
    chatKeys: ['messages'],
    fragment: {
      tools: [WEATHER],
      messages: [
        { role: 'user', content: 'weather?' },
        { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: 'sunny' }] },
      ],
    },
  },
  { parameter: 'max_tokens', key: 'max_tokens', chatKeys: ['max_completion_tokens'], fragment: { max_tokens: 64 } },
  { parameter: 'temperature', key: 'temperature', chatKeys: ['temperature'], fragment: { temperature: 0.5 } },
  { parameter: 'top_p', key: 'top_p', chatKeys: ['top_p'], fragment: { top_p: 0.9 } },
  { parameter: 'top_k', key: 'top_k', chatKeys: [], fragment: { top_k: 40 } },
  { parameter: 'stop_sequences', key: 'stop_sequences', chatKeys: ['stop'], fragment: { stop_sequences: ['END'] } },
  { parameter: 'tools', key: 'tools', chatKeys: ['tools'], fragment: { tools: [WEATHER] } },
  { parameter: 'tools: server tool (web_search)', key: 'tools', chatKeys: ['tools'], fragment: { tools: [{ type: 'web_search_20250305', name: 'web_search', max_uses: 3 }] } },
  { parameter: 'tool_choice: any', key: 'tool_choice', chatKeys: ['tool_choice'], fragment: { tools: [WEATHER], tool_choice: { type: 'any' } } },
  { parameter: 'tool_choice: tool', key: 'tool_choice', chatKeys: ['tool_choice'], fragment: { tools: [WEATHER], tool_choice: { type: 'tool', name: 'get_weather' } } },
  { parameter: 'disable_parallel_tool_use', key: 'tool_choice', chatKeys: ['parallel_tool_calls'], fragment: { tools: [WEATHER], tool_choice: { type: 'auto', disable_parallel_tool_use: true } } },
  { parameter: 'thinking: enabled', key: 'thinking', chatKeys: ['reasoning_effort'], fragment: { max_tokens: 4096, thinking: { type: 'enabled', budget_tokens: 2048 } } },
  { parameter: 'output_config.effort', key: 'output_config', chatKeys: ['reasoning_effort'], fragment: { output_config: { effort: 'low' } } },
  { parameter: 'output_config.format', key: 'output_config', chatKeys: ['response_format'], fragment: { output_config: { format: { type: 'json_schema', schema: { type: 'object', properties: { a: { type: 'string' } } } } } } },
  { parameter: 'metadata.user_id', key: 'metadata', chatKeys: ['user'], fragment: { metadata: { user_id: 'user-1234' } } },
  { parameter: 'cache_control', key: 'cache_control', chatKeys: [], fragment: { system: [{ type: 'text', text: 'Be brief.', cache_control: { type: 'ephemeral' } }] } },
  { parameter: 'service_tier: standard_only', key: 'service_tier', chatKeys: [], fragment: { service_tier: 'standard_only' } },
  { parameter: 'container', key: 'container', chatKeys: [], fragment: { container: 'container_1' } },
  { parameter: 'mcp_servers', key: 'mcp_servers', chatKeys: [], fragment: { mcp_servers: [{ type: 'url', url: 'https://mcp.example.com/sse', name: 'example' }] } },
];

/**
 * What the converter and then `factory`'s translator do with each sample parameter.
 *
 * @example
 * renderMessagesTable([{ name: 'Gemini (Vertex)', outcomes: observeMessages(geminiChat(target), 'gemini-2.5-flash') }]);
 */
export function observeMessages(factory: ChatTranslatorFactory, model: string): Map<string, Outcome> {
  const outcomes = new Map<string, Outcome>();
  for (const sample of MESSAGES_PARAMETER_SAMPLES) {
    outcomes.set(sample.parameter, outcome(sample, factory, model));
  }
  return outcomes;
}

function outcome(sample: MessagesSample, factory: ChatTranslatorFactory, model: string): Outcome {
  try {
    const req = checkMessagesRequest({ model, max_tokens: 256, messages: [{ role: 'user', content: 'hi' }], ...sample.fragment });
    const { chat, dropped } = messagesToChat(req);
    if (dropped.includes(sample.key)) return 'dropped';
    const native = factory({ model, id: 'chatcmpl-table', created: 0, stream: false, includeUsage: false }).request(chat);
    return sample.chatKeys.some((k) => native.dropped.includes(k)) ? 'dropped' : 'sent';
  } catch (err) {
    if (!(err instanceof GatewayError) || err.code !== 'invalid_request') throw err;
    return 'refused';
  }
}

/** The Markdown table: one row per Messages parameter, one column per provider. */
export function renderMessagesTable(columns: ReadonlyArray<{ name: string; outcomes: ReadonlyMap<string, string> }>): string {
  return renderOutcomeTable('Messages parameter', MESSAGES_PARAMETER_SAMPLES, columns);
}
