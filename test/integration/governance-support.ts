import type { TestGateway } from '../helpers/gateway.js';

/** Shared by the governance integration tests. */

export interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

/** POSTs a chat completion to `/openai/{instance}/chat/completions` and reads the whole answer. */
export async function chat(gw: TestGateway, key: string, body: Record<string, unknown> = {}, instance = 'oai'): Promise<Answer> {
  const res = await fetch(`${gw.url}/openai/${instance}/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], ...body }),
  });
  const text = await res.text();
  let parsed: Record<string, unknown> = {};
  try {
    parsed = JSON.parse(text) as Record<string, unknown>;
  } catch {
    parsed = { text };
  }
  return { status: res.status, headers: res.headers, body: parsed };
}

export const errorCode = (a: Answer) => (a.body['error'] as { code?: string } | undefined)?.code;
export const errorMessage = (a: Answer) => (a.body['error'] as { message?: string } | undefined)?.message ?? '';

/** How many inference requests the gateway has finished (its own requests_total), so a test can wait for accounting. */
export async function finishedRequests(gw: TestGateway): Promise<number> {
  const m = await gw.app.metrics.requests.get();
  return m.values.filter((v) => v.labels.mode !== 'ops').reduce((t, v) => t + v.value, 0);
}

/** Waits (bounded) until the gateway has finished `n` inference requests. */
export async function waitFinished(gw: TestGateway, n: number, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await finishedRequests(gw)) < n) {
    if (Date.now() > deadline) throw new Error(`gateway finished ${await finishedRequests(gw)} requests, not ${n}, within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
  // onFinish runs right after the metrics in the same call; let its counter updates settle.
  await new Promise((r) => setImmediate(r));
}

/** An `instances` block with OpenAI instances named `names`, all pointing at `endpoint`. */
export function openaiInstances(endpoint: string, envName: string, names: string[] = ['oai']): Record<string, unknown> {
  return Object.fromEntries(names.map((n) => [n, { type: 'openai', endpoint, authentication: { type: 'api_key', api_key: `\${env:${envName}}` } }]));
}
