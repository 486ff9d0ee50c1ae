import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, test } from 'node:test';
import { z } from 'zod';
import { closedPort } from '../../test/helpers/net.js';
import type { Endpoint } from '../config-fields/fields.js';
import type { CachedCredential, CredentialState } from '../credentials/types.js';
import { GatewayError } from '../errors/gateway-error.js';
import { applyHeaderCredential, type BearerCredential } from '../signing/header.js';
import type { UpstreamRequest } from '../upstream/types.js';
import { Instance, type SendOptions } from './instance.js';
import type { ProviderDefinition, ProviderParts } from './types.js';

/**
 * `Instance.send()` against a loopback upstream: signing on every attempt, the stale-credential
 * retry, the 401 policy, the upstream time and a client that leaves.
 */

/** What the upstream saw of one request. */
interface Seen {
  path: string;
  authorization: string | undefined;
}

/** A bearer credential whose token changes on every invalidate: `tok-0`, `tok-1`, ... */
class RotatingCredential implements CachedCredential<BearerCredential> {
  invalidations = 0;
  lastError: string | undefined = undefined;

  get(): Promise<BearerCredential> {
    return Promise.resolve({ type: 'bearer', token: `tok-${this.invalidations}` });
  }

  invalidate(): void {
    this.invalidations++;
  }

  get state(): CredentialState {
    return { method: 'rotating', status: 'ok', lastRefreshAt: undefined, expiresAt: undefined, lastError: this.lastError };
  }
}

/** A bearer challenge on a 401 is how the test provider says "stale" (as Vertex and Azure do). */
const staleByChallenge = (status: number, headers: Readonly<Record<string, string | string[] | undefined>>) =>
  status === 401 && /^bearer\b/i.test(String(headers['www-authenticate'] ?? ''));

function provider(staleCredential?: ProviderDefinition['staleCredential']): ProviderDefinition {
  return {
    type: 'send-test',
    schema: z.object({ type: z.string() }),
    defaultEndpoint: undefined,
    transparentRules: [],
    usage: { json() {}, event() {} },
    ...(staleCredential ? { staleCredential } : {}),
    setup: () => {
      throw new Error('not used: the test builds its parts itself');
    },
  };
}

describe('Instance.send', () => {
  const seen: Seen[] = [];
  let respond: (req: IncomingMessage, res: ServerResponse, n: number) => void = (_req, res) => res.end('ok');
  const server = createServer((req, res) => {
    seen.push({ path: req.url ?? '', authorization: req.headers['authorization'] });
    req.resume();
    respond(req, res, seen.length);
  });
  let origin = '';
  const instances: Instance[] = [];

  before(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    for (const i of instances) await i.close();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });
  beforeEach(() => {
    seen.length = 0;
  });

  function build(credential: RotatingCredential, stale?: ProviderDefinition['staleCredential'], extra: Partial<ProviderParts<BearerCredential>> = {}) {
    const signedFor: Endpoint[] = [];
    const parts: ProviderParts<BearerCredential> = {
      credential,
      sign: (req, cred, endpoint) => {
        signedFor.push(endpoint);
        return applyHeaderCredential(req, cred);
      },
      ...extra,
    };
    const instance = new Instance(
      {
        name: 'primary',
        provider: provider(stale),
        endpoint: { origin, basePath: '' },
        isDefault: true,
        extraRules: [],
        timeouts: { connectMs: 2000, firstByteMs: 2000, idleMs: 2000 },
        bodyLimit: 1 << 20,
      },
      parts,
    );
    instances.push(instance);
    return { instance, signedFor };
  }

  const request = (path = '/v1/x'): UpstreamRequest => ({ method: 'POST', path, headers: { 'content-type': 'application/json' }, body: Buffer.from('{}') });

  /** Options recording the upstream time `send` reports. */
  function options(signal = new AbortController().signal): SendOptions & { times: number[] } {
    const times: number[] = [];
    return { signal, times, onAnswer: (ms) => times.push(ms) };
  }

  test('signs a copy of the request: the upstream sees the credential, the request passed in stays unsigned', async () => {
    respond = (_req, res) => res.end('hello');
    const { instance } = build(new RotatingCredential());
    const req = request();
    const before = { ...req, headers: { ...req.headers } };
    const opts = options();
    const answer = await instance.send(req, opts);
    assert.equal(answer?.statusCode, 200);
    assert.equal(await answer!.body.text(), 'hello');
    assert.deepEqual(seen, [{ path: '/v1/x', authorization: 'Bearer tok-0' }]);
    assert.deepEqual(req, before);
    assert.equal(opts.times.length, 1);
    assert.ok(opts.times[0]! >= 0);
  });

  test('a stale answer: the credential is invalidated and the request sent once more, signed with the fresh one', async () => {
    respond = (req, res) => {
      if (req.headers['authorization'] === 'Bearer tok-0') {
        res.writeHead(401, { 'www-authenticate': 'Bearer error="invalid_token"' }).end('expired');
      } else res.end('fresh');
    };
    const credential = new RotatingCredential();
    const { instance } = build(credential, staleByChallenge);
    const opts = options();
    const answer = await instance.send(request(), opts);
    assert.equal(answer?.statusCode, 200);
    assert.equal(await answer!.body.text(), 'fresh');
    assert.deepEqual(seen.map((s) => s.authorization), ['Bearer tok-0', 'Bearer tok-1']);
    assert.equal(credential.invalidations, 1);
    assert.equal(opts.times.length, 1, 'one upstream time, for the answer that counts');
  });

  test('stale again after the refresh: 502 upstream_credential_rejected, with no third attempt', async () => {
    respond = (_req, res) => res.writeHead(401, { 'www-authenticate': 'Bearer error="invalid_token"' }).end('no');
    const credential = new RotatingCredential();
    const { instance } = build(credential, staleByChallenge);
    await assert.rejects(instance.send(request(), options()), (err: unknown) => err instanceof GatewayError && err.code === 'upstream_credential_rejected' && /after a refresh/.test(err.message));
    assert.equal(seen.length, 2);
  });

  test('stale again because the refresh itself failed: 503 credential_unavailable, not the provider\'s refusal', async () => {
    respond = (_req, res) => res.writeHead(401, { 'www-authenticate': 'Bearer error="invalid_token"' }).end('no');
    const credential = new RotatingCredential();
    credential.lastError = 'the token endpoint is down';
    const { instance } = build(credential, staleByChallenge);
    await assert.rejects(instance.send(request(), options()), (err: unknown) => err instanceof GatewayError && err.code === 'credential_unavailable');
    assert.equal(seen.length, 2);
  });

  test('a 401 the provider does not call stale: 502 upstream_credential_rejected, the credential invalidated, the upstream time kept', async () => {
    respond = (_req, res) => res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"Incorrect API key provided: sk-...abcd"}');
    const credential = new RotatingCredential();
    const { instance } = build(credential);
    const opts = options();
    await assert.rejects(instance.send(request(), opts), (err: unknown) => err instanceof GatewayError && err.code === 'upstream_credential_rejected' && !err.message.includes('abcd'));
    assert.equal(credential.invalidations, 1);
    assert.equal(seen.length, 1, 'a 401 without a stale verdict is not retried');
    assert.equal(opts.times.length, 1, 'the provider answered, so its time is reported');
  });

  test('other error statuses are the caller\'s to pass on', async () => {
    respond = (_req, res) => res.writeHead(429, { 'content-type': 'application/json' }).end('{"error":"slow down"}');
    const credential = new RotatingCredential();
    const { instance } = build(credential, staleByChallenge);
    const answer = await instance.send(request(), options());
    assert.equal(answer?.statusCode, 429);
    assert.equal(await answer!.body.text(), '{"error":"slow down"}');
    assert.equal(credential.invalidations, 0);
  });

  test('a client that leaves aborts the exchange: undefined, no error', async () => {
    let arrived!: () => void;
    const waiting = new Promise<void>((r) => (arrived = r));
    respond = () => arrived(); // never answers
    const { instance } = build(new RotatingCredential());
    const abort = new AbortController();
    const opts = options(abort.signal);
    const sent = instance.send(request(), opts);
    await waiting;
    abort.abort();
    assert.equal(await sent, undefined);
    assert.deepEqual(opts.times, []);
  });

  test('an upstream that cannot be reached is upstream_unreachable, naming the instance', async () => {
    const { instance } = build(new RotatingCredential(), undefined, { upstreams: { control: { origin: `http://127.0.0.1:${await closedPort()}`, basePath: '' } } });
    const req = { ...request(), target: 'control' };
    await assert.rejects(instance.send(req, options()), (err: unknown) => err instanceof GatewayError && err.code === 'upstream_unreachable' && err.message.startsWith('instance primary:'));
  });

  test('a request naming another upstream is signed for that upstream\'s endpoint and sent on its pool', async () => {
    respond = (_req, res) => res.end('control');
    const control: Endpoint = { origin, basePath: '/control' };
    const { instance, signedFor } = build(new RotatingCredential(), undefined, { upstreams: { control } });
    const answer = await instance.send({ ...request('/control/models'), target: 'control' }, options());
    assert.equal(await answer!.body.text(), 'control');
    assert.deepEqual(signedFor, [control]);
    assert.deepEqual(seen.map((s) => s.path), ['/control/models']);
  });
});
