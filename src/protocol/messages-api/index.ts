/**
 * The Anthropic Messages API as a client protocol over the chat hub: a Messages request is
 * checked, converted to an OpenAI chat request, sent through the provider's own chat translator,
 * and the chat answer or stream converted back. Pure functions and per-request classes; the
 * server wires them. (protocol/anthropic-messages/ is the opposite direction: chat → Claude.)
 *  - schema.ts: the request schemas and checkMessagesRequest / checkCountTokensRequest (400s
 *    naming the field in Anthropic's dotted spelling).
 *  - to-chat.ts: Messages request → chat request, with what the hub drops or refuses.
 *  - from-chat.ts: chat.completion → Messages answer; ids, stop reasons, usage.
 *  - stream.ts: chat chunks → Messages stream events, and their SSE frames.
 *  - estimate.ts: the count_tokens estimate for backends without a count endpoint.
 *  - models.ts: `GET /v1/models` pages in Anthropic's shape.
 *  - parameter-table.ts: the docs table, observed through each provider's translator.
 *
 * @example
 * const req = checkMessagesRequest(body);
 * const { chat, dropped } = messagesToChat(req);
 * const t = provider.chat!({ model, id, created, stream: req.stream === true, includeUsage: true });
 * const native = t.request(chat); // report [...dropped, ...native.dropped]
 * // non-streaming: chatToMessage(t.response(upstreamBody), { id: newMessageId(), model: req.model })
 * // streaming:     const s = new MessagesStream({ id: newMessageId(), model: req.model }); chunks → s.push → sseFrame
 */
export { checkCountTokensRequest, checkMessagesRequest, countTokensRequestSchema, messagesRequestSchema } from './schema.js';
export type { CountTokensRequest, MessagesRequest } from './schema.js';
export { countTokensToChat, effortOfBudget, messagesToChat } from './to-chat.js';
export { chatToMessage, newMessageId, newToolUseId } from './from-chat.js';
export { MessagesStream, sseFrame } from './stream.js';
export { estimateInputTokens } from './estimate.js';
export { anthropicModelList } from './models.js';
export type { AnthropicModelInfo, AnthropicModelPage, ModelPageParams } from './models.js';
export { MESSAGES_PARAMETER_SAMPLES, observeMessages, renderMessagesTable } from './parameter-table.js';
export type { MessageResponse, MessagesStreamEvent, MessageUsage, ResponseContentBlock, StreamErrorType } from './types.js';
