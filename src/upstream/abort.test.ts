import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import { Pool } from 'undici';
import { UpstreamAbort } from './abort.js';

describe('UpstreamAbort', () => {
  test('has the AbortController shape: signal is itself, abort() once, listeners told once', () => {
    const abort = new UpstreamAbort();
    assert.equal(abort.signal, abort);
    let told = 0;
    abort.signal.on('abort', () => told++);
    assert.equal(abort.signal.aborted, false);
    abort.abort();
    abort.abort();
    assert.equal(abort.signal.aborted, true);
    assert.equal(told, 1);
  });

  test('undici takes it as a signal: aborting cuts a request still waiting for its answer', async () => {
    let reached!: () => void;
    const arrived = new Promise<void>((r) => (reached = r));
    const server = createServer(() => reached()); // never answers
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const pool = new Pool(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    try {
      const abort = new UpstreamAbort();
      const answer = pool.request({ method: 'GET', path: '/', signal: abort.signal });
      await arrived;
      abort.abort();
      await assert.rejects(answer, { name: 'AbortError' });
      assert.equal(abort.listenerCount('abort'), 0, 'undici removed its listener');
    } finally {
      await pool.destroy();
      server.closeAllConnections();
      server.close();
    }
  });
});
