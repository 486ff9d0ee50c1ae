import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createLogger, type LogLevel } from './logger.js';
import { requestLineWriter, type RequestLine } from './request-line.js';
import { SecretScrubber } from './scrubber.js';

function capture(level: LogLevel = 'info') {
  const scrubber = new SecretScrubber();
  const lines: string[] = [];
  const logger = createLogger({ level, scrubber, destination: { write: (l: string) => void lines.push(l) } });
  return { scrubber, logger, lines, write: requestLineWriter(logger, scrubber) };
}

const FULL: RequestLine = {
  request_id: 'a03d9207-0d57-4b1a-a341-c742328ad5a3',
  method: 'POST',
  path: '/transparent/openai/v1/chat/completions',
  route: 'transparent',
  instance: 'openai',
  status: 200,
  completed: true,
  duration_ms: 1.2,
  upstream_ms: 0.5,
  client: '127.0.0.1',
  auth: { result: 'success', reason: undefined, key_id: 'k1', user: 'alice' },
  error: undefined,
  tokens: { model: 'gpt-4o-mini', input: 19, output: 42 },
};
const SPARSE: RequestLine = {
  ...FULL,
  path: '/weird/"quoted"\\path\u0001\u2028é',
  instance: undefined,
  completed: false,
  upstream_ms: undefined,
  auth: { result: 'failure', reason: 'unknown_key', key_id: undefined, user: undefined },
  error: 'unauthorized',
  tokens: { model: undefined, input: 0, output: Number.NaN },
};

/** A line without its timestamp (the two writers run a moment apart). */
const untimed = (line: string) => {
  const parsed = JSON.parse(line) as Record<string, unknown>;
  assert.match(String(parsed['time']), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  delete parsed['time'];
  return parsed;
};

describe('request line writer', () => {
  test('writes what pino writes for the same line: same keys, order and values; undefined fields left out', () => {
    for (const line of [FULL, SPARSE]) {
      const { logger, lines, write } = capture();
      logger.info(line, 'request');
      write('info', line);
      assert.equal(lines.length, 2);
      assert.deepEqual(Object.keys(untimed(lines[1]!)), Object.keys(untimed(lines[0]!)));
      assert.deepEqual(untimed(lines[1]!), untimed(lines[0]!));
      assert.ok(lines[1]!.endsWith('}\n'));
    }
  });

  test('keeps the logger level: debug lines are dropped at info and written at debug', () => {
    const info = capture('info');
    info.write('debug', FULL);
    assert.equal(info.lines.length, 0);
    const debug = capture('debug');
    debug.write('debug', FULL);
    assert.equal((JSON.parse(debug.lines[0]!) as { level: string }).level, 'debug');
  });

  test('masks registered secrets and the secret part of gateway keys anywhere in the line', () => {
    const { scrubber, lines, write } = capture();
    scrubber.add('provider-secret-value-123');
    write('info', { ...FULL, path: '/x/provider-secret-value-123/llmp_abc123_SECRETSECRET' });
    assert.ok(!lines[0]!.includes('provider-secret-value-123'), lines[0]);
    assert.ok(!lines[0]!.includes('SECRETSECRET'), lines[0]);
    assert.match(lines[0]!, /llmp_abc123_\[REDACTED\]/);
  });
});
