import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bodyCases } from './bodies.cases.js';
import { JSON_HEADERS, baseConfig, bearer, caseTests, category, chat, errorOf, issueKey, rawHttp, requestBytes, type Arena } from './support.js';

/**
 * The tpm admission estimate reads only the top-level `max_tokens` (spec item 10): a request held
 * in flight (the upstream answers after 500 ms) keeps its estimate charged, so the next request
 * of a key with `tpm: 1000` shows what that estimate was. `default_max_tokens` is 5000 here.
 */
async function tpmProbe(arena: Arena, firstBody: string): Promise<number> {
  const key = await issueKey(arena, `tpm-${arena.secrets.length}`, { limits: { tpm: 1000 } });
  arena.upstream.reset();
  const post = (body: string) => rawHttp(arena.gw.port, requestBytes({ method: 'POST', path: '/openai/oai/chat/completions', headers: { ...bearer(key), ...JSON_HEADERS }, body }));
  const first = post(firstBody);
  await arena.upstream.waitForRequests(1);
  const second = await post(chat('gpt-4o', { max_tokens: 1 }));
  arena.seen.push(second.raw);
  assert.equal((await first).status, 200);
  if (second.status === 429) assert.equal(errorOf(second)?.code, 'rate_limited');
  return second.status;
}

/** A body whose tool schema (free-form JSON) names `max_tokens` before any top-level one. */
function nestedCap(nested: number, topLevel?: number): string {
  const top = topLevel === undefined ? '' : `,"max_tokens":${topLevel}`;
  return `{"model":"slow-500","tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","max_tokens":${nested}}}}],"messages":[{"role":"user","content":"hi"}]${top}}`;
}

category(
  'bodies',
  (upstream) => baseConfig(upstream, { limits: { estimate: { default_max_tokens: 5000 } } }),
  (arena) => {
    caseTests(arena, bodyCases(() => arena().key));
    test('tpm: a nested "max_tokens": 1 does not lower the estimate (no top-level cap → default 5000 → the next request waits)', async () => {
      assert.equal(await tpmProbe(arena(), nestedCap(1)), 429);
    });
    test('tpm: a nested "max_tokens": 100000 does not raise it (top-level 5 counts → the next request passes)', async () => {
      assert.equal(await tpmProbe(arena(), nestedCap(100_000, 5)), 200);
    });
  },
);
