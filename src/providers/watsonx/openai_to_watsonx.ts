import { ChatStream } from '../../protocol/chat-stream.js';
import { parseProviderJson } from '../../protocol/json.js';
import { nativeChat } from '../../protocol/native-chat.js';
import { SseDecoder } from '../../protocol/sse.js';
import type { ChatTranslatorFactory } from '../../protocol/translator.js';
import { toWatsonxChat, type WatsonxChatConfig } from './chat/request.js';
import { toChatCompletion, watsonxErrorMessage, type WatsonxAnswer } from './chat/response.js';
import { WatsonxEvents } from './chat/stream.js';

export type { WatsonxChatConfig, WatsonxScope } from './chat/request.js';

/**
 * OpenAI Chat Completions ↔ IBM watsonx.ai text chat.
 * Request:  `POST /ml/v1/text/chat?version=…` (JSON) and `POST /ml/v1/text/chat_stream?version=…`
 *           (SSE: `id: n`, `event: message`, `data: {chunk}`), https://cloud.ibm.com/apidocs/watsonx-ai#text-chat
 * Fields:   IBM's SDKs (`TextChatParams` in @ibm-cloud/watsonx-ai, `TextChatRequest` in
 *           watsonx-ai-java-sdk) spell the body; answers and chunks are OpenAI-like plus
 *           `model_id`, `created_at`, `model_version`, `system.warnings`, `reasoning_content`.
 *
 * Request parameters (null counts as absent everywhere; the rules: chat/request.ts, their names watsonxChatParameters):
 * | OpenAI                                 | Rule        | watsonx                                                   |
 * |----------------------------------------|-------------|-----------------------------------------------------------|
 * | model                                  | mapped      | `model_id` (the resolved model)                           |
 * | (instance config)                      |             | `project_id` or `space_id`; `version` query parameter     |
 * | messages: system, developer            | mapped      | `system` (watsonx has no developer role in every version); text parts joined |
 * | messages: user                         | mapped      | `user`; parts text, image_url {url, detail}, input_audio {data, format} |
 * | messages: assistant                    | mapped      | `assistant`: text parts joined; tool_calls; refusal       |
 * | messages: tool                         | mapped      | `tool` {content, tool_call_id} (tool_call_id required)    |
 * | messages[].name                        | mapped      | kept on system, user, assistant; watsonx tool messages have none |
 * | other roles (function), other parts (file) | mapped  | refused                                                   |
 * | stream                                 | mapped      | the path: `chat` or `chat_stream` (no body field)         |
 * | stream_options.include_usage           | mapped      | watsonx always ends a stream with usage; sent on only when asked |
 * | max_tokens, max_completion_tokens      | passthrough | same names (watsonx ignores max_tokens when both are set) |
 * | temperature, top_p, n, seed            | passthrough |                                                           |
 * | presence_penalty, frequency_penalty    | passthrough |                                                           |
 * | logprobs, top_logprobs, logit_bias     | passthrough | choices' `logprobs` are passed back as watsonx sends them |
 * | stop                                   | mapped      | always an array                                           |
 * | response_format text / json_object / json_schema | mapped | same shape; any other type refused                 |
 * | tools                                  | mapped      | `{type:'function', function:{name, description, parameters}}`; `strict` dropped |
 * | tool_choice none / auto / required     | mapped      | `tool_choice_option`                                      |
 * | tool_choice {type:'function', …}       | mapped      | `tool_choice` (watsonx takes one or the other, never both) |
 * | reasoning_effort low / medium / high   | mapped      | `reasoning_effort`; other values (minimal, none, xhigh) dropped |
 * | modalities ["text"]                    | mapped      | nothing; any other modality refused                       |
 * | parallel_tool_calls, user, safety_identifier, metadata, store, service_tier, prompt_cache_key, prediction, verbosity | dropped | |
 * | functions, function_call, audio, web_search_options | refused | ignoring them would change what the client gets |
 * | any other parameter                    | refused     | (ParameterRules: a parameter not listed is refused)       |
 *
 * Answers: `model` is the model the client asked for, `id`/`created` the gateway's. Choices keep
 * their index; `tool_calls` lose watsonx's extra `index`. Finish reasons: stop, length and
 * tool_calls as they are; time_limit → length (the answer was cut off by a limit); error and
 * cancelled → the answer is refused (a 502, or StreamIncomplete in a stream); an unknown reason
 * → null, never a guessed one. Usage: prompt/completion/total tokens as reported.
 *
 * `reasoning_content` (gpt-oss and other reasoning models) is passed on, on the message and on
 * deltas, under the same name: it is the de-facto field of OpenAI-compatible servers (vLLM,
 * DeepSeek), OpenAI SDKs keep unknown fields, and dropping it would lose what the client paid
 * for. Granite's inline `<think>…</think>` stays in `content` as the model wrote it.
 *
 * Streams: watsonx interleaves choices by index; each delta becomes one OpenAI chunk (empty
 * deltas, such as `reasoning_content: ""`, are skipped); tool-call deltas keep their index, with
 * `id`/`type`/`name` only on the first one. The last watsonx chunk has `choices: []` and usage:
 * it becomes the include_usage chunk, and (as IBM's own SDK does) a choice that streamed tool
 * calls without a finish_reason, which some models do with `tool_choice_option: required`, gets
 * `tool_calls` there. A stream is complete when every choice it started has finished; an end
 * before that, an `event: error`, an error body or malformed JSON throw StreamIncomplete.
 */

/**
 * Protocol mode for a watsonx instance: binds its project or space and API version, and builds
 * the two native paths once. One translator per request; its stream state lives in the shared
 * skeleton (protocol/chat-stream.ts) and WatsonxEvents.
 *
 * @example
 * const chat = watsonxChat({ scope: { project_id: 'p-1' }, version: '2025-12-05' });
 * const t = chat({ model: 'ibm/granite-3-8b-instruct', id, created, stream: true, includeUsage: true });
 */
export const watsonxChat = (config: WatsonxChatConfig): ChatTranslatorFactory => {
  const query = `?version=${encodeURIComponent(config.version)}`;
  const paths = { chat: `/ml/v1/text/chat${query}`, stream: `/ml/v1/text/chat_stream${query}` };
  return (options) =>
    nativeChat({
      request: (body) => {
        const { body: native, dropped } = toWatsonxChat(body, options.model, config.scope);
        return {
          path: options.stream ? paths.stream : paths.chat,
          headers: { 'content-type': 'application/json', accept: options.stream ? 'text/event-stream' : 'application/json' },
          body: Buffer.from(JSON.stringify(native)),
          dropped,
        };
      },
      response: (body) => toChatCompletion(parseProviderJson<WatsonxAnswer>(body, 'watsonx'), options),
      errorMessage: watsonxErrorMessage,
      stream: () => ({ decoder: new SseDecoder({ lineLimit: options.streamLineLimit }), events: new ChatStream(options, new WatsonxEvents(), 'at-once') }),
    });
};
