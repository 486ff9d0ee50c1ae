import { GatewayError } from '../errors/gateway-error.js';
import type { ChatRequest } from './openai.js';
import type { ChatTranslatorFactory } from './translator.js';

/**
 * The parameter table of docs/protocol-mode.md, produced by running each translator: for every
 * OpenAI chat parameter (with a representative value) the translator either refuses the
 * request (400), reports the parameter as dropped, or sends it on. The table is the translators'
 * observed behaviour, so it cannot drift from the code; a test compares it with the document.
 */

/** One row: an OpenAI parameter and a request fragment that sets it. */
interface Sample {
  parameter: string;
  /** The name the translator reports in `dropped`. */
  key: string;
  fragment: Partial<ChatRequest> & Record<string, unknown>;
}

const WEATHER = { type: 'function' as const, function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } };

export const PARAMETER_SAMPLES: readonly Sample[] = [
  { parameter: 'messages: system', key: 'messages', fragment: { messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'hi' }] } },
  { parameter: 'messages: developer', key: 'messages', fragment: { messages: [{ role: 'developer', content: 'Be brief.' }, { role: 'user', content: 'hi' }] } },
  { parameter: 'messages: image (data URL)', key: 'messages', fragment: { messages: [{ role: 'user', content: [{ type: 'text', text: 'what is this?' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } }] }] } },
  { parameter: 'messages: image (https URL)', key: 'messages', fragment: { messages: [{ role: 'user', content: [{ type: 'text', text: 'what is this?' }, { type: 'image_url', image_url: { url: 'https://example.com/cat.png' } }] }] } },
  {
    parameter: 'messages: tool calls and results',
    key: 'messages',
    fragment: {
      tools: [WEATHER],
      messages: [
        { role: 'user', content: 'weather?' },
        { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
        { role: 'tool', tool_call_id: 'call_1', content: 'sunny' },
      ],
    },
  },
  { parameter: 'max_tokens', key: 'max_tokens', fragment: { max_tokens: 64 } },
  { parameter: 'max_completion_tokens', key: 'max_completion_tokens', fragment: { max_completion_tokens: 64 } },
  { parameter: 'temperature', key: 'temperature', fragment: { temperature: 0.5 } },
  { parameter: 'top_p', key: 'top_p', fragment: { top_p: 0.9 } },
  { parameter: 'stop', key: 'stop', fragment: { stop: ['END'] } },
  { parameter: 'n (> 1)', key: 'n', fragment: { n: 2 } },
  { parameter: 'tools', key: 'tools', fragment: { tools: [WEATHER] } },
  { parameter: 'tool_choice', key: 'tool_choice', fragment: { tools: [WEATHER], tool_choice: { type: 'function', function: { name: 'get_weather' } } } },
  { parameter: 'parallel_tool_calls: false', key: 'parallel_tool_calls', fragment: { tools: [WEATHER], parallel_tool_calls: false } },
  { parameter: 'response_format: json_object', key: 'response_format', fragment: { response_format: { type: 'json_object' } } },
  { parameter: 'response_format: json_schema', key: 'response_format', fragment: { response_format: { type: 'json_schema', json_schema: { name: 'answer', schema: { type: 'object', properties: { a: { type: 'string' } } } } } } },
  { parameter: 'presence_penalty', key: 'presence_penalty', fragment: { presence_penalty: 0.5 } },
  { parameter: 'frequency_penalty', key: 'frequency_penalty', fragment: { frequency_penalty: 0.5 } },
  { parameter: 'logit_bias', key: 'logit_bias', fragment: { logit_bias: { '50256': -100 } } },
  { parameter: 'logprobs', key: 'logprobs', fragment: { logprobs: true } },
  { parameter: 'seed', key: 'seed', fragment: { seed: 7 } },
  { parameter: 'user', key: 'user', fragment: { user: 'user-1234' } },
  { parameter: 'metadata', key: 'metadata', fragment: { metadata: { team: 'a' } } },
  { parameter: 'store', key: 'store', fragment: { store: true } },
  { parameter: 'service_tier', key: 'service_tier', fragment: { service_tier: 'auto' } },
  { parameter: 'reasoning_effort', key: 'reasoning_effort', fragment: { reasoning_effort: 'low' } },
  { parameter: 'functions (deprecated)', key: 'functions', fragment: { functions: [WEATHER.function] } },
  { parameter: 'audio output', key: 'audio', fragment: { modalities: ['text', 'audio'], audio: { voice: 'alloy', format: 'mp3' } } },
];

export type Outcome = 'sent' | 'dropped' | 'refused';

/** What `factory`'s translator does with each sample parameter. */
export function observe(factory: ChatTranslatorFactory, model: string): Map<string, Outcome> {
  const outcomes = new Map<string, Outcome>();
  for (const sample of PARAMETER_SAMPLES) {
    const body: ChatRequest = { model, messages: [{ role: 'user', content: 'hi' }], ...sample.fragment } as ChatRequest;
    const translator = factory({ model, id: 'chatcmpl-table', created: 0, stream: false, includeUsage: false });
    try {
      const native = translator.request(body);
      outcomes.set(sample.parameter, native.dropped.includes(sample.key) ? 'dropped' : 'sent');
    } catch (err) {
      if (!(err instanceof GatewayError) || err.code !== 'invalid_request') throw err;
      outcomes.set(sample.parameter, 'refused');
    }
  }
  return outcomes;
}

/** The Markdown table: one row per parameter, one column per provider. */
export function renderParameterTable(columns: ReadonlyArray<{ name: string; outcomes: ReadonlyMap<string, string> }>): string {
  return renderOutcomeTable('parameter', PARAMETER_SAMPLES, columns);
}

/** A parameter table of any client protocol: one row per sample (`first` heads the row names), one column per provider. */
export function renderOutcomeTable(first: string, samples: ReadonlyArray<{ parameter: string }>, columns: ReadonlyArray<{ name: string; outcomes: ReadonlyMap<string, string> }>): string {
  const header = `| ${first} | ${columns.map((c) => c.name).join(' | ')} |`;
  const rule = `| --- | ${columns.map(() => '---').join(' | ')} |`;
  const rows = samples.map((s) => `| ${s.parameter} | ${columns.map((c) => c.outcomes.get(s.parameter)).join(' | ')} |`);
  return [header, rule, ...rows].join('\n');
}
