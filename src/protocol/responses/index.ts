/**
 * The OpenAI Responses API as a client protocol over the chat hub (issue 14): a Responses request
 * becomes a chat request for the provider's own chat translator, and the chat answer or stream
 * becomes a Responses answer or event stream. Pure: no I/O; the gateway's routes hold the store.
 *  - schema.ts: the request schema and checkResponsesRequest (400 naming the field).
 *  - to-chat.ts: responsesToChat (request + stored history → chat request) and inputItems.
 *  - from-chat.ts: chatToResponse (chat.completion → response object).
 *  - stream.ts: ResponsesStream (chat chunks → Responses events) and sseFrame.
 *  - parameter-table.ts: the observed parameter table for docs/protocol-mode.md.
 *
 * @example
 * const req = checkResponsesRequest(body);
 * const { chat, dropped } = responsesToChat(req, history);
 * const completion = translator.response(upstream);     // after translator.request(chat)
 * const response = chatToResponse(completion, { id: newItemId('resp'), createdAt, model: req.model, request: req });
 */
export { checkResponsesRequest, responsesRequestSchema } from './schema.js';
export type { InputContentPart, InputItem, JsonSchemaFormat, ResponsesFunctionTool, ResponsesRequest, ResponsesTool } from './schema.js';
export { inputItems, responsesToChat, RESPONSES_FIELD_RULES } from './to-chat.js';
export type { ChatConversion, FieldRule } from './to-chat.js';
export { chatToResponse, responseObject, responseUsage } from './from-chat.js';
export { ResponsesStream, sseFrame } from './stream.js';
export type { ResponseStreamEvent } from './stream.js';
export { RESPONSES_PARAMETER_SAMPLES, observeResponses, renderResponsesTable } from './parameter-table.js';
export type { ResponsesOutcome } from './parameter-table.js';
export { newItemId } from './types.js';
export type * from './types.js';
