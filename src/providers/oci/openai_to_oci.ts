import { ChatStream } from '../../protocol/chat-stream.js';
import { parseProviderJson } from '../../protocol/json.js';
import { nativeChat } from '../../protocol/native-chat.js';
import { SseDecoder } from '../../protocol/sse.js';
import type { ChatTranslatorFactory } from '../../protocol/translator.js';
import { apiFormatOf, toOciChat } from './chat/request.js';
import { ociErrorMessage, toChatCompletion } from './chat/response.js';
import { OciEvents } from './chat/stream.js';

/**
 * OpenAI Chat Completions ↔ OCI Generative AI inference chat (`POST /20231130/actions/chat`,
 * https://docs.oracle.com/iaas/api/#/en/generative-ai-inference/20231130/ChatResult/Chat).
 * Body: `ChatDetails {compartmentId, servingMode: {servingType: ON_DEMAND, modelId}, chatRequest}`.
 * Field names are those of Oracle's SDK models (oracle/oci-python-sdk
 * `src/oci/generative_ai_inference/models/`: `generic_chat_request.py` attribute_map — apiFormat,
 * messages, isStream, streamOptions, numGenerations, seed, topP, temperature, frequencyPenalty,
 * presencePenalty, stop, maxTokens, maxCompletionTokens, responseFormat, reasoningEffort —,
 * `cohere_chat_request.py` — message, chatHistory, preambleOverride, stopSequences —,
 * `chat_result.py`, `generic_chat_response.py`, `chat_choice.py`, `cohere_chat_response.py`; tools:
 * `function_definition.py` {type FUNCTION, name, description, parameters}, `tool_choice_*.py`
 * {type NONE/AUTO/REQUIRED/FUNCTION, name}, `assistant_message.py` toolCalls (content null when
 * answering with tool calls only, as its doc asks), `function_call.py` {id, type FUNCTION, name,
 * arguments (a JSON string)}, `tool_message.py` {role TOOL, content, toolCallId}).
 * Streams are data-only SSE (the SDKs' `is_stream` doc: "sent as data-only server-sent events");
 * the event shapes below are those LangChain's ChatOCIGenAI reads (generic:
 * `{index, message: {content: [{type: TEXT, text}]}, finishReason?}`; cohere: `{text}` deltas and a
 * last `{text: <whole answer>, finishReason}` whose text is a repeat and is not sent again).
 * No OCI chat transcript is in testdata: these shapes are not checked against recorded traffic.
 *
 * Two request formats, chosen by the model id: `cohere.*` → `apiFormat: COHERE`, everything else
 * (meta.*, xai.*, openai.*, google.*, …) → `apiFormat: GENERIC`.
 *
 * Request parameters (null counts as absent; the rules: chat/request.ts, their names ociChatParameters):
 * | OpenAI                         | Rule    | GENERIC                                   | COHERE                                   |
 * |--------------------------------|---------|-------------------------------------------|------------------------------------------|
 * | model                          | mapped  | `servingMode.modelId` (ON_DEMAND)         | same                                     |
 * | (instance config)              |         | `compartmentId`                           | same                                     |
 * | messages: system, developer    | mapped  | SYSTEM, text content                      | `preambleOverride` (all joined by a blank line) |
 * | messages: user                 | mapped  | USER: TEXT parts, IMAGE `{imageUrl: {url, detail}}` | last one → `message`; earlier → `chatHistory` USER (text only) |
 * | messages: assistant            | mapped  | ASSISTANT, TEXT content                   | `chatHistory` CHATBOT                    |
 * | messages: assistant tool_calls | mapped  | ASSISTANT `toolCalls: [{type: FUNCTION, id, name, arguments}]`, content null if empty | refused (see tools) |
 * | messages: tool                 | mapped  | TOOL `{toolCallId, content: [TEXT]}`       | refused (see tools)                      |
 * | messages[].name                | dropped | not sent (silently)                       | same                                     |
 * | stream                         | mapped  | `isStream`                                | `isStream`                               |
 * | stream_options.include_usage   | mapped  | `streamOptions.isIncludeUsage`            | nothing (usage when OCI sends it)        |
 * | max_tokens                     | mapped  | `maxTokens`                               | `maxTokens`                              |
 * | max_completion_tokens          | mapped  | `maxCompletionTokens`                     | `maxTokens`                              |
 * | temperature, top_p, seed       | mapped  | `temperature`, `topP`, `seed`             | same                                     |
 * | presence/frequency_penalty     | mapped  | `presencePenalty`, `frequencyPenalty`     | same                                     |
 * | n                              | mapped  | `numGenerations`                          | refused when > 1                         |
 * | stop                           | mapped  | `stop` (array)                            | `stopSequences`                          |
 * | response_format                | mapped  | TEXT / JSON_OBJECT / JSON_SCHEMA `{jsonSchema: {name, description, schema, isStrict}}` | text → nothing; json_object / json_schema → JSON_OBJECT `{schema}` |
 * | reasoning_effort               | mapped  | `reasoningEffort` MINIMAL/LOW/MEDIUM/HIGH; other values dropped | dropped              |
 * | modalities ["text"]            | mapped  | nothing; any other modality refused       | same                                     |
 * | tools                          | mapped  | `tools: [{type: FUNCTION, name, description, parameters}]` (`strict` not sent); non-function tools refused | refused |
 * | tool_choice                    | mapped  | `toolChoice` {type: AUTO / NONE / REQUIRED} or {type: FUNCTION, name} | refused |
 * | parallel_tool_calls            | mapped  | `isParallelToolCalls`                     | dropped                                  |
 * | user, metadata, store, service_tier, safety_identifier, prompt_cache_key, prediction, verbosity | dropped | | |
 * | functions, function_call, logprobs, top_logprobs, logit_bias, audio, web_search_options | refused | | |
 * | any other parameter            | refused |                                           |                                          |
 *
 * Answers: `ChatResult {modelId, chatResponse}`; `model` is the model the client asked for,
 * `id`/`created` the gateway's. Finish reasons: generic `stop`/`length`/`tool_calls`/
 * `content_filter` as they are (case-insensitive); cohere COMPLETE and STOP_SEQUENCE → stop,
 * MAX_TOKENS → length, ERROR_TOXIC → content_filter, ERROR/ERROR_LIMIT/USER_CANCEL → the answer
 * is refused (502, or StreamIncomplete in a stream); any other → null. Usage
 * `{promptTokens, completionTokens, totalTokens}` → OpenAI's.
 *
 * Tool calls (GENERIC): `message.toolCalls` FunctionCalls → `tool_calls` (an id is made up,
 * `call_<n>`, when OCI sends none). In a stream each event's `message.toolCalls` are fragments: one
 * with an `id` (or a `name`) not seen before in that choice starts a new call — OpenAI index 0, 1,
 * … — with id, type and name; one without continues the choice's last call with more
 * `arguments`. No recorded OCI stream shows how fragments are split: this rule is an assumption.
 * COHERE keeps refusing tools: its format is not OpenAI's (CohereTool `parameterDefinitions`
 * instead of a JSON Schema, tool results as `toolResults` {call: {name, parameters}, outputs} with
 * no call ids), so a faithful round trip needs schema flattening and call matching not done here.
 *
 * A stream is complete when every choice it started has a finishReason (cohere: one choice); an
 * end before that, an error body or malformed JSON throw StreamIncomplete.
 */

export interface OciChatConfig {
  /** The compartment every call runs in (and is billed to). */
  compartmentId: string;
}

/**
 * Protocol mode for an OCI instance: binds its compartment. One translator per request; its
 * stream state lives in the shared skeleton (protocol/chat-stream.ts) and OciEvents.
 *
 * @example
 * const chat = ociChat({ compartmentId: 'ocid1.compartment.oc1..a' });
 * const t = chat({ model: 'meta.llama-3.3-70b-instruct', id, created, stream: true, includeUsage: true });
 */
export const ociChat =
  (config: OciChatConfig): ChatTranslatorFactory =>
  (options) =>
    nativeChat({
      request: (body) => {
        const { body: native, dropped } = toOciChat(body, options.model, config.compartmentId, options.stream, options.includeUsage);
        return {
          path: '/20231130/actions/chat',
          headers: { 'content-type': 'application/json', accept: options.stream ? 'text/event-stream' : 'application/json' },
          body: Buffer.from(JSON.stringify(native)),
          dropped,
        };
      },
      response: (body) => toChatCompletion(parseProviderJson<unknown>(body, 'OCI'), options),
      errorMessage: ociErrorMessage,
      stream: () => ({
        decoder: new SseDecoder({ lineLimit: options.streamLineLimit }),
        events: new ChatStream(options, new OciEvents(apiFormatOf(options.model)), 'at-once'),
      }),
    });
