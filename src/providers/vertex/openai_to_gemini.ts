import { ChatStream } from '../../protocol/chat-stream.js';
import { nativeChat } from '../../protocol/native-chat.js';
import type { ChatTranslatorFactory } from '../../protocol/translator.js';
import { geminiRequest, MODEL_ID, refuse } from './gemini/request.js';
import { googleErrorMessage, geminiResponse } from './gemini/response.js';
import { geminiDecoder, GeminiEvents } from './gemini/stream.js';

/*
 * OpenAI Chat Completions ↔ Vertex AI Gemini `generateContent` / `streamGenerateContent?alt=sse`.
 * https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/inference
 * https://cloud.google.com/vertex-ai/docs/reference/rest/v1/projects.locations.publishers.models/generateContent
 *
 * | OpenAI                              | Gemini                                                     | rule    |
 * | ----------------------------------- | ---------------------------------------------------------- | ------- |
 * | model                               | path `/v1/projects/{project}/locations/{location}/         | mapped  |
 * |                                     | publishers/google/models/{model}:generateContent`          |         |
 * | stream                              | `:streamGenerateContent?alt=sse`                           | mapped  |
 * | stream_options.include_usage        | last chunk `choices: []` + usage from usageMetadata        | mapped  |
 * | messages: system, developer         | `systemInstruction.parts[].text`, in order (position lost) | mapped  |
 * | messages: user / assistant          | contents role `user` / `model`, `{text}` parts; empty text | mapped  |
 * |                                     | skipped; consecutive same-role turns merged (Gemini wants  |         |
 * |                                     | them alternating)                                          |         |
 * | image_url `data:image/…;base64,`    | `{inlineData: {mimeType, data}}`                           | mapped  |
 * | image_url `gs://…`, `https://…`     | `{fileData: {mimeType, fileUri}}`, mimeType from the file  | mapped  |
 * |                                     | extension (png, jpg/jpeg, webp, heic, heif, gif); refused  |         |
 * |                                     | when the extension says nothing, or for http:// and others |         |
 * | image_url.detail                    | no per-part equivalent                                     | dropped |
 * | input_audio {data, format}          | `{inlineData: {mimeType, data}}`, audio/wav or audio/mp3   | mapped  |
 * | file {file_data: data: URL}         | `{inlineData: {mimeType, data}}`; file_id is refused       | mapped  |
 * | assistant tool_calls                | `{functionCall: {name, args: JSON.parse(arguments)}}`;     | mapped  |
 * |                                     | arguments that are not a JSON object are refused           |         |
 * | tool messages                       | user `{functionResponse: {name, response: {output: text}}}`| mapped  |
 * |                                     | — the name is the one of the earlier tool call with that   |         |
 * |                                     | id (refused when no earlier call has it)                   |         |
 * | messages[].name                     | no equivalent                                              | dropped |
 * | max_completion_tokens ?? max_tokens | generationConfig.maxOutputTokens                           | mapped  |
 * | temperature, top_p                  | generationConfig.temperature, topP                         | mapped  |
 * | stop                                | generationConfig.stopSequences                             | mapped  |
 * | n                                   | generationConfig.candidateCount                            | mapped  |
 * | presence_penalty, frequency_penalty | generationConfig.presencePenalty, frequencyPenalty         | mapped  |
 * | seed                                | generationConfig.seed                                      | mapped  |
 * | response_format json_object         | generationConfig.responseMimeType application/json         | mapped  |
 * | response_format json_schema         | responseMimeType application/json + responseSchema (the    | mapped  |
 * |                                     | schema as is; Vertex checks it is its OpenAPI subset)      |         |
 * | tools (function)                    | `tools: [{functionDeclarations: [{name, description,       | mapped  |
 * |                                     | parameters (as is)}]}]`; other tool types refused          |         |
 * | tools[].function.strict             | no equivalent                                              | dropped |
 * | tool_choice auto / none / required  | toolConfig.functionCallingConfig.mode AUTO / NONE / ANY    | mapped  |
 * | tool_choice {function: {name}}      | mode ANY + allowedFunctionNames [name]; refused when the   | mapped  |
 * |                                     | name is not among `tools`                                  |         |
 * | tool_choice auto / none, no tools   | nothing to configure                                       | mapped  |
 * | tool_choice required/fn, no tools   |                                                            | refused |
 * | parallel_tool_calls: false          | Gemini cannot be told to call one function at a time      | dropped |
 * | logprobs: true, top_logprobs > 0    | not translated back                                        | refused |
 * | logit_bias                          | OpenAI token ids mean nothing to Gemini's tokenizer       | dropped |
 * | functions, function_call            | deprecated; use tools                                      | refused |
 * | audio, modalities other than text   | text output only                                           | refused |
 * | web_search_options                  | (Gemini's googleSearch tool is not offered here)           | refused |
 * | user, metadata, store, service_tier, reasoning_effort, prediction, prompt_cache_key,  | dropped |
 * | safety_identifier, verbosity                                                           |         |
 * | any other top-level field (ParameterRules: a parameter not listed is refused)         | refused |
 *
 * Answers: each candidate is a choice (its `index`; absent means 0, as proto3 JSON leaves zeros
 * out). Text parts are joined (`thought: true` parts — thought summaries — are left out);
 * functionCall parts become tool_calls with generated `call_…` ids and `arguments =
 * JSON.stringify(args)`; other parts (inlineData, executableCode, …) are not passed on.
 * finishReason: STOP and unknown values → stop (tool_calls
 * when the candidate called a function); MAX_TOKENS → length; SAFETY, RECITATION, BLOCKLIST,
 * PROHIBITED_CONTENT, SPII, LANGUAGE, IMAGE_SAFETY, IMAGE_PROHIBITED_CONTENT, IMAGE_RECITATION →
 * content_filter (any text already produced is kept); MALFORMED_FUNCTION_CALL and
 * UNEXPECTED_TOOL_CALL → an error (the call is unusable; a normal finish would lose it). Usage:
 * prompt_tokens = promptTokenCount + toolUsePromptTokenCount, completion_tokens =
 * candidatesTokenCount + thoughtsTokenCount (thinking is billed as output), total = their sum.
 * `model` is the model the client asked for (after alias resolution).
 *
 * A prompt Gemini blocks (`promptFeedback.blockReason`, no candidates) is an answer, not an error:
 * like an answer blocked on the way out it is a 200 with `finish_reason: content_filter` (one
 * choice per requested `n`), content null and, non-streaming, `refusal` saying why. A body with
 * neither candidates nor a block reason, or a candidate with neither content nor finishReason, is
 * a 502.
 *
 * Streams: the stream is complete when every candidate it named has had a finishReason (or the
 * prompt was blocked) and the body then ended cleanly. Finish chunks (and the usage chunk) are sent
 * at that end, so an error Google appends after a finishReason (its bare error object, or an event
 * with `error`) still fails the stream: StreamIncomplete with Google's message. A stream without
 * any finishReason, or an event that is not JSON, is StreamIncomplete too. Text that arrived in
 * the same network read as the failure is still returned first; the failure is thrown next.
 */

/** Where a translator sends its requests: the instance's project and location. */
export interface VertexTarget {
  project: string;
  location: string;
}

/**
 * Protocol mode for Gemini on Vertex AI, bound to one instance's project and location (the
 * native path names them). One translator per request: the shared skeleton
 * (protocol/chat-stream.ts) and GeminiEvents hold the stream decoder, the per-choice stream
 * state and the usage.
 *
 * @example
 * const chat = geminiChat({ project: 'my-project', location: 'us-central1' });
 * const t = chat({ model: 'gemini-2.0-flash', id, created, stream: true, includeUsage: true });
 * t.request(body).path; // '/v1/projects/my-project/locations/us-central1/publishers/google/models/gemini-2.0-flash:streamGenerateContent?alt=sse'
 * for (const bytes of upstream) send(t.push(bytes));
 * send(t.end()); // finish and usage chunks; throws StreamIncomplete without a finishReason
 */
export function geminiChat(target: VertexTarget): ChatTranslatorFactory {
  const base = `/v1/projects/${target.project}/locations/${target.location}/publishers/google/models/`;
  return (options) => {
    /** The `n` asked for, read by the request and needed by the answer or stream. */
    let candidates = 1;
    return nativeChat({
      request: (body) => {
        const model = options.model;
        if (!MODEL_ID.test(model)) refuse(`"${model.slice(0, 100)}" is not a Vertex AI publisher model id (such as gemini-2.0-flash)`);
        const { request, dropped, candidates: n } = geminiRequest(body);
        candidates = n;
        return {
          path: `${base}${model}${options.stream ? ':streamGenerateContent?alt=sse' : ':generateContent'}`,
          headers: { 'content-type': 'application/json', accept: options.stream ? 'text/event-stream' : 'application/json' },
          body: Buffer.from(JSON.stringify(request)),
          dropped,
        };
      },
      response: (body) => geminiResponse(body, options, candidates),
      errorMessage: googleErrorMessage,
      // A failure after some chunks of a read is thrown by the next call, so the text that arrived with the error still reaches the client.
      stream: () => ({ decoder: geminiDecoder(options.streamLineLimit), events: new ChatStream(options, new GeminiEvents(candidates), 'after-chunks') }),
    });
  };
}

