import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createLogger } from './logger.js';
import { SecretScrubber } from './scrubber.js';

function capture() {
  const scrubber = new SecretScrubber();
  const lines: string[] = [];
  const logger = createLogger({ level: 'info', scrubber, destination: { write: (l: string) => void lines.push(l) } });
  return { scrubber, logger, last: () => JSON.parse(lines.at(-1)!) as Record<string, any> };
}

describe('logger redaction', () => {
  test('credential headers are redacted in headers, req, res and upstream fields; others kept', () => {
    const { logger, last } = capture();
    const headers = { Authorization: 'Bearer tok-1', 'x-api-key': 'tok-2', 'api-key': 'tok-3', 'x-goog-api-key': 'tok-4', 'x-totp-code': '123456', cookie: 'c=1', 'content-type': 'application/json' };
    for (const field of ['headers', 'req', 'res', 'upstream'] as const) {
      logger.info(field === 'headers' ? { headers } : { [field]: { method: 'POST', headers } }, 'm');
      const line = last();
      const logged = field === 'headers' ? line['headers'] : line[field]['headers'];
      assert.equal(logged['content-type'], 'application/json', field);
      for (const name of ['Authorization', 'x-api-key', 'api-key', 'x-goog-api-key', 'x-totp-code', 'cookie']) assert.equal(logged[name], '[REDACTED]', `${field}.${name}`);
      if (field !== 'headers') assert.equal(line[field]['method'], 'POST');
    }
    // The caller's object is not modified.
    assert.equal(headers.Authorization, 'Bearer tok-1');
  });

  test('registered secrets and gateway-key shapes are scrubbed from any field, including messages and errors', () => {
    const { scrubber, logger, last } = capture();
    scrubber.add('provider-secret-value-123');
    logger.warn({ detail: 'got provider-secret-value-123 back', err: new Error('echo provider-secret-value-123') }, 'upstream said provider-secret-value-123');
    const text = JSON.stringify(last());
    assert.ok(!text.includes('provider-secret-value-123'), text);
    assert.match(text, /got .+ back/);
  });
});
