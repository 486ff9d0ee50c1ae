import type { Exchange } from './base.js';
import { OpenAIEmulator } from './openai.js';

/**
 * The throwaway `example-compatible` provider's API: OpenAI's chat completions, except that it
 * refuses `max_completion_tokens` and `seed` (it knows `max_tokens` only) and answers errors as
 * `{"detail": "..."}`, and it serves no embeddings.
 */
export class ExampleCompatibleEmulator extends OpenAIEmulator {
  protected override async route(ex: Exchange): Promise<void> {
    const { method, path } = ex.record;
    if (method === 'POST' && path === '/v1/embeddings') return this.json(ex, 404, { detail: 'Not Found' });
    for (const unknown of ['max_completion_tokens', 'seed']) {
      if (ex.json && unknown in ex.json) return this.json(ex, 422, { detail: `unknown parameter: ${unknown}` });
    }
    if (ex.json?.['model'] === 'missing-model') return this.json(ex, 404, { detail: 'model missing-model does not exist' });
    return super.route(ex);
  }
}
