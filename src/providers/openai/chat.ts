import { GatewayError } from '../../errors/gateway-error.js';
import type { ChatCompletion, ChatCompletionChunk, ChatRequest } from '../../protocol/openai.js';
import { SseDecoder, type SseEvent } from '../../protocol/sse.js';
import { StreamIncomplete, type ChatTranslator, type ChatTranslatorFactory, type NativeRequest } from '../../protocol/translator.js';

/**
 * Protocol mode for OpenAI-compatible providers (OpenAI, the demo upstream; later xAI, Ollama):
 * the request goes out as the client wrote it with the provider's model id; answers come back
 * parsed (for usage and stream integrity) and re-serialised unchanged. A stream must end with
 * `data: [DONE]`.
 */
export const openaiCompatibleChat: ChatTranslatorFactory = (options) => new OpenAICompatibleChat(options.model);

class OpenAICompatibleChat implements ChatTranslator {
  readonly #model: string;
  readonly #sse = new SseDecoder();
  #done = false;
  #usage: { inputTokens: number; outputTokens: number } | undefined;

  constructor(model: string) {
    this.#model = model;
  }

  request(body: ChatRequest): NativeRequest {
    return {
      path: '/v1/chat/completions',
      headers: { 'content-type': 'application/json', accept: body.stream ? 'text/event-stream' : 'application/json' },
      body: Buffer.from(JSON.stringify({ ...body, model: this.#model })),
      dropped: [],
    };
  }

  response(body: Buffer): ChatCompletion {
    const completion = parse(body) as ChatCompletion;
    this.#noteUsage(completion.usage);
    return completion;
  }

  push(chunk: Buffer): ChatCompletionChunk[] {
    return this.#events(this.#sse.push(chunk));
  }

  end(): ChatCompletionChunk[] {
    const rest = this.#events(this.#sse.end());
    if (!this.#done) throw new StreamIncomplete('the provider stream ended without [DONE]');
    return rest;
  }

  #events(events: SseEvent[]): ChatCompletionChunk[] {
    const out: ChatCompletionChunk[] = [];
    for (const event of events) {
      if (event.data === '[DONE]') {
        this.#done = true;
        continue;
      }
      const parsed = parse(Buffer.from(event.data)) as ChatCompletionChunk & { error?: { message?: string } };
      if (parsed.error) throw new StreamIncomplete(parsed.error.message ?? 'the provider reported an error mid-stream');
      this.#noteUsage(parsed.usage ?? undefined);
      out.push(parsed);
    }
    return out;
  }

  errorMessage(body: Buffer): string | undefined {
    try {
      const parsed = JSON.parse(body.toString('utf8')) as { error?: { message?: unknown } };
      return typeof parsed.error?.message === 'string' ? parsed.error.message : undefined;
    } catch {
      return undefined;
    }
  }

  usage(): { inputTokens: number; outputTokens: number } | undefined {
    return this.#usage;
  }

  #noteUsage(usage: { prompt_tokens?: number; completion_tokens?: number } | null | undefined): void {
    if (usage) this.#usage = { inputTokens: usage.prompt_tokens ?? 0, outputTokens: usage.completion_tokens ?? 0 };
  }
}

function parse(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    throw new GatewayError('upstream_error', 'the provider answered with a body that is not JSON');
  }
}
