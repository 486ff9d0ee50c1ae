import { bedrockEventDecoder } from '../../protocol/aws-eventstream.js';
import { ChatStream } from '../../protocol/chat-stream.js';
import { nativeChat } from '../../protocol/native-chat.js';
import type { ChatTranslatorFactory } from '../../protocol/translator.js';
import { converseRequest } from './converse/request.js';
import { converseErrorMessage, converseResponse } from './converse/response.js';
import { ConverseEvents } from './converse/stream.js';

/*
 * OpenAI Chat Completions ↔ Bedrock Converse / ConverseStream.
 * https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html
 * https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ConverseStream.html
 *
 * | OpenAI                              | Converse                                                  | rule    |
 * | ----------------------------------- | --------------------------------------------------------- | ------- |
 * | model                               | path `/model/{encodeURIComponent(model)}/converse[-stream]` | mapped  |
 * | stream                              | `/converse-stream` (TranslatorOptions.stream decides)      | mapped  |
 * | stream_options.include_usage        | last chunk `choices: []` + usage from `metadata`           | mapped  |
 * | messages: system, developer         | `system: [{text}]`, in order (their position is lost)      | mapped  |
 * | messages: user / assistant text     | `{text}` blocks; empty text is skipped (Converse rejects   | mapped  |
 * |                                     | blank text), consecutive same-role messages are merged     |         |
 * | image_url `data:image/…;base64,`    | `{image: {format, source: {bytes: <base64>}}}`             | mapped  |
 * | image_url http(s) / other URL       | Converse takes bytes or S3 only                            | refused |
 * | image_url.detail                    | no equivalent                                              | dropped |
 * | assistant `refusal` parts           | `{text}`                                                   | mapped  |
 * | content parts other than text/image | (input_audio, file, …)                                     | refused |
 * | assistant tool_calls                | `{toolUse: {toolUseId, name, input: JSON.parse(args)}}`    | mapped  |
 * | tool messages                       | user `{toolResult: {toolUseId, content: [{text}]}}`, merged | mapped  |
 * | messages[].name                     | no equivalent                                              | dropped |
 * | max_completion_tokens ?? max_tokens | inferenceConfig.maxTokens                                  | mapped  |
 * | temperature, top_p                  | inferenceConfig.temperature, topP (Bedrock checks ranges)  | mapped  |
 * | stop                                | inferenceConfig.stopSequences                              | mapped  |
 * | tools (function)                    | toolConfig.tools[].toolSpec {name, description,            | mapped  |
 * |                                     | inputSchema.json, strict (only when true)}                 |         |
 * | tools of another type               |                                                            | refused |
 * | tool_choice auto / required / fn    | toolChoice {auto:{}} / {any:{}} / {tool:{name}}            | mapped  |
 * | tool_choice none                    | toolConfig withheld (Converse has no "none"); refused when | mapped  |
 * |                                     | the history holds tool calls, as Converse then requires    |         |
 * |                                     | toolConfig and offering the tools would allow calls        |         |
 * | tool_choice required/fn, no tools   |                                                            | refused |
 * | response_format text                | (the default)                                              | mapped  |
 * | response_format json_schema         | outputConfig.textFormat {type: json_schema, structure:     | mapped  |
 * |                                     | {jsonSchema: {schema: <JSON string>, name, description}}}; |         |
 * |                                     | models without structured output answer Bedrock's 400      |         |
 * | response_format json_object         | no schema-less JSON mode                                   | refused |
 * | n ≠ 1                               | one answer per call                                        | refused |
 * | logprobs: true, top_logprobs > 0    | not reported by Converse                                   | refused |
 * | functions, function_call            | deprecated; use tools                                      | refused |
 * | audio, modalities ≠ ["text"]        | text output only                                           | refused |
 * | web_search_options                  | no search                                                  | refused |
 * | parallel_tool_calls: false          | cannot be switched off                                     | dropped |
 * | presence_penalty, frequency_penalty, seed, logit_bias, user, metadata, store,  | dropped |
 * | service_tier, reasoning_effort, prediction, prompt_cache_key, safety_identifier, |       |
 * | verbosity, and any other top-level field not named above                      |         |
 *
 * Answers: text blocks are joined; toolUse blocks become tool_calls (arguments =
 * JSON.stringify(input)); reasoningContent, citations and server-side tool use
 * (`toolUse.type: server_tool_use`, run by Bedrock itself) are not passed on.
 * stopReason: end_turn, stop_sequence → stop; max_tokens, model_context_window_exceeded → length;
 * tool_use → tool_calls; guardrail_intervened, content_filtered → content_filter;
 * malformed_model_output, malformed_tool_use → an error (the output is unusable; reporting a
 * normal finish would hand the client broken JSON or a lost tool call); any other value → stop
 * (the message did stop; OpenAI clients know only four reasons).
 */

/**
 * Protocol mode for Bedrock: an OpenAI chat request as a Converse (or ConverseStream) call, and
 * the answer back. One translator per request: the shared skeleton (protocol/chat-stream.ts)
 * and ConverseEvents hold the stream's decoder and state.
 *
 * @example
 * const t = converseChat({ model: 'anthropic.claude-3-haiku-20240307-v1:0', id, created, stream: true, includeUsage: true });
 * t.request(body).path; // '/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse-stream'
 * for (const bytes of upstream) send(t.push(bytes)); // role, content, tool_calls, finish chunks
 * send(t.end());                                      // throws StreamIncomplete without messageStop + metadata
 */
export const converseChat: ChatTranslatorFactory = (options) =>
  nativeChat({
    request: (body) => {
      const { converse, dropped } = converseRequest(body);
      const stream = options.stream;
      return {
        path: `/model/${encodeURIComponent(options.model)}/${stream ? 'converse-stream' : 'converse'}`,
        headers: { 'content-type': 'application/json', accept: stream ? 'application/vnd.amazon.eventstream' : 'application/json' },
        body: Buffer.from(JSON.stringify(converse)),
        dropped,
      };
    },
    response: (body) => converseResponse(body, options),
    errorMessage: converseErrorMessage,
    // Chunks already made go out before a failure, so what the client sees never depends on where the bytes were cut.
    stream: () => ({ decoder: bedrockEventDecoder(), events: new ChatStream(options, new ConverseEvents(), 'after-chunks') }),
  });
