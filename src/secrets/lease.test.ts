import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { StaticCredential } from '../credentials/static/index.js';
import { LeasedSecret, type LeaseClock, type LeaseEvent } from './lease.js';
import { parseSecretRef } from './ref.js';
import type { LeasingSecretStore, SecretLease } from './types.js';

/** Timers on a clock that moves only when the test says so. */
class FakeClock implements LeaseClock {
  #now = 1_700_000_000_000;
  #timers: Array<{ at: number; fn: () => void; id: number }> = [];
  #next = 0;
  now(): number {
    return this.#now;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.#next;
    this.#timers.push({ at: this.#now + ms, fn, id });
    return id;
  }
  clearTimeout(id: unknown): void {
    this.#timers = this.#timers.filter((t) => t.id !== id);
  }
  get pending(): number {
    return this.#timers.length;
  }
  /** Moves the clock by `ms`, firing due timers in order and letting their async work settle. */
  async advance(ms: number): Promise<void> {
    const end = this.#now + ms;
    for (;;) {
      this.#timers.sort((a, b) => a.at - b.at);
      const due = this.#timers[0];
      if (!due || due.at > end) break;
      this.#timers.shift();
      this.#now = Math.max(this.#now, due.at);
      due.fn();
      await settle();
    }
    this.#now = end;
    await settle();
  }
}

async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
}

type RenewAnswer = { durationSeconds: number; renewable: boolean } | Error;

/** A leasing store whose leases are numbered: lease n has access_key AK-n and secret_key SK-n. */
class ScriptedLeases implements LeasingSecretStore {
  readonly scheme = 'test-dynamic';
  issued: SecretLease[] = [];
  renewed: Array<{ id: string; increment: number }> = [];
  revoked: string[] = [];
  /** Answers of the next renewals (default: granted in full). */
  renewAnswers: RenewAnswer[] = [];
  /** Failures of the next issues. */
  issueFailures: Error[] = [];
  duration = 900;
  renewable = true;
  fields = (n: number): Record<string, string> => ({ access_key: `AK-${n}`, secret_key: `SK-${n}` });
  /** Called inside every store call: the test checks the credential there, between the lease's steps. */
  probe: () => void = () => undefined;

  validate(): undefined {
    return undefined;
  }
  leaseSource(ref: { path: string }) {
    const [source, field] = ref.path.split('#') as [string, string];
    return { source, field };
  }
  read(): Promise<string> {
    return Promise.reject(new Error('not used'));
  }
  async issue(): Promise<SecretLease> {
    this.probe();
    const failure = this.issueFailures.shift();
    if (failure) throw failure;
    const n = this.issued.length + 1;
    const lease = { id: `lease-${n}`, fields: this.fields(n), durationSeconds: this.duration, renewable: this.renewable };
    this.issued.push(lease);
    return lease;
  }
  async renew(lease: SecretLease, increment: number) {
    this.probe();
    this.renewed.push({ id: lease.id, increment });
    const answer = this.renewAnswers.shift() ?? { durationSeconds: increment, renewable: true };
    if (answer instanceof Error) throw answer;
    return answer;
  }
  /** While true, revocations never answer (an unreachable Vault) until their signal aborts. */
  revokeHangs = false;
  async revoke(lease: SecretLease, signal: AbortSignal): Promise<void> {
    this.probe();
    if (this.revokeHangs) {
      await new Promise((_, reject) => signal.addEventListener('abort', () => reject(new Error('cannot reach Vault: aborted'))));
    }
    this.revoked.push(lease.id);
  }
}

const refused = (): Error => Object.assign(new Error('lease renewal refused: Vault answered 400 (lease not found)'), { status: 400 });
const unreachable = (): Error => new Error('cannot reach Vault at http://127.0.0.1:1: ECONNREFUSED');

function setup(configure: (store: ScriptedLeases) => void = () => undefined) {
  const store = new ScriptedLeases();
  configure(store);
  const clock = new FakeClock();
  const events: LeaseEvent[] = [];
  const lease = new LeasedSecret(store, 'aws/creds/bedrock', { clock, onEvent: (e) => events.push(e), maxRetryMs: 10_000 });
  const keyId = lease.field(parseSecretRef('${test-dynamic:aws/creds/bedrock#access_key}')!, 'access_key');
  const secret = lease.field(parseSecretRef('${test-dynamic:aws/creds/bedrock#secret_key}')!, 'secret_key');
  const credential = new StaticCredential([keyId, secret], 'access_keys', () => ({ id: keyId.value, secret: secret.value }) as never);
  const pair = () => credential.current() as unknown as { id: string; secret: string };
  /** The credential's key id and secret come from the same lease. */
  const assertMatched = () => {
    if (!keyId.hasValue) return;
    const { id, secret: s } = pair();
    assert.equal(id.replace('AK-', ''), s.replace('SK-', ''), `mixed pair: ${id} with ${s}`);
  };
  store.probe = assertMatched;
  return { store, clock, events, lease, keyId, secret, credential, pair, assertMatched };
}

const renewals = (events: LeaseEvent[]) => events.filter((e) => e.kind === 'renewal').map((e) => (e as { result: string }).result);

describe('LeasedSecret (dynamic secrets)', () => {
  test('every field of a source comes from one read; a field handle holds no value of its own', async () => {
    const { store, keyId, secret, pair, lease } = setup();
    assert.equal(keyId.hasValue, false);
    assert.throws(() => keyId.value, /not resolved/);
    await Promise.all([keyId.refresh(), secret.refresh()]);
    assert.equal(store.issued.length, 1, 'two references, one read');
    assert.deepEqual(pair(), { id: 'AK-1', secret: 'SK-1' });
    assert.equal(lease.field(parseSecretRef('${test-dynamic:aws/creds/bedrock#access_key}')!, 'access_key'), keyId, 'equal references share a handle');
  });

  test('refresh now (an operator\'s request) reads a new lease for both fields at once; concurrent requests share it', async () => {
    const { store, clock, keyId, secret, pair, lease } = setup();
    await keyId.refresh();
    lease.start();
    await Promise.all([keyId.refresh(), secret.refresh(), keyId.refresh()]);
    assert.equal(store.issued.length, 2);
    assert.deepEqual(pair(), { id: 'AK-2', secret: 'SK-2' });
    await clock.advance(5_000);
    assert.deepEqual(store.revoked, ['lease-1']);
  });

  test('renews at two thirds of the lease for its original duration, and keeps renewing', async () => {
    const { store, clock, lease, keyId, events } = setup();
    await keyId.refresh();
    lease.start();
    const start = clock.now();
    assert.equal(lease.expiresAt, start + 900_000);
    await clock.advance(599_000);
    assert.equal(store.renewed.length, 0, 'not before two thirds');
    await clock.advance(1_000);
    assert.deepEqual(store.renewed, [{ id: 'lease-1', increment: 900 }]);
    assert.equal(lease.expiresAt, start + 600_000 + 900_000);
    await clock.advance(600_000);
    assert.equal(store.renewed.length, 2);
    assert.deepEqual(renewals(events), ['renewed', 'renewed']);
    assert.equal(store.issued.length, 1, 'renewal keeps the lease');
    assert.deepEqual(store.revoked, []);
  });

  test('a lease shorter than 15 minutes is renewed five minutes before its end, one inside that window at half of what is left', async () => {
    const six = setup((s) => (s.duration = 360));
    await six.keyId.refresh();
    six.lease.start();
    await six.clock.advance(59_000);
    assert.equal(six.store.renewed.length, 0);
    await six.clock.advance(1_000);
    assert.equal(six.store.renewed.length, 1, 'at 60 s, five minutes before the end');

    const two = setup((s) => (s.duration = 120));
    await two.keyId.refresh();
    two.lease.start();
    await two.clock.advance(59_000);
    assert.equal(two.store.renewed.length, 0);
    await two.clock.advance(1_000);
    assert.equal(two.store.renewed.length, 1, 'at half of two minutes');
  });

  test('renewal refused: a new lease is read at once, both fields change together, the old lease is revoked', async () => {
    const { store, clock, lease, keyId, pair, events } = setup((s) => s.renewAnswers.push(refused()));
    await keyId.refresh();
    lease.start();
    const before = keyId.version;
    await clock.advance(600_000);
    assert.deepEqual(renewals(events), ['refused']);
    assert.equal(store.issued.length, 2);
    assert.deepEqual(pair(), { id: 'AK-2', secret: 'SK-2' });
    assert.ok(keyId.version > before, 'the credential is rebuilt');
    assert.equal(lease.expiresAt, clock.now() + 900_000);
    assert.deepEqual(store.revoked, [], 'a request signed just before the swap may still be on its way');
    await clock.advance(5_000);
    assert.deepEqual(store.revoked, ['lease-1'], 'revoked after its grace');
  });

  test('close() revokes a replaced lease still in its grace at once, with the current one', async () => {
    const { store, clock, lease, keyId } = setup((s) => s.renewAnswers.push(refused()));
    await keyId.refresh();
    lease.start();
    await clock.advance(600_000);
    assert.deepEqual(store.revoked, []);
    await lease.close();
    assert.deepEqual(store.revoked.sort(), ['lease-1', 'lease-2']);
    assert.equal(clock.pending, 0);
  });

  test('max TTL: a renewal granted less than asked is the last; the next step reads a new lease before expiry', async () => {
    const { store, clock, lease, keyId, pair, events } = setup((s) => s.renewAnswers.push({ durationSeconds: 300, renewable: true }));
    await keyId.refresh();
    lease.start();
    await clock.advance(600_000);
    assert.deepEqual(renewals(events), ['max_ttl']);
    assert.equal(lease.expiresAt, clock.now() + 300_000);
    await clock.advance(149_000);
    assert.equal(store.issued.length, 1);
    await clock.advance(1_000);
    assert.equal(store.issued.length, 2, 'inside the five-minute window: read anew at half of what was left');
    assert.equal(store.renewed.length, 1, 'not renewed again');
    assert.deepEqual(pair(), { id: 'AK-2', secret: 'SK-2' });
    await clock.advance(5_000);
    assert.deepEqual(store.revoked, ['lease-1']);
  });

  test('a lease that is not renewable is replaced at two thirds of its duration', async () => {
    const { store, clock, lease, keyId } = setup((s) => (s.renewable = false));
    await keyId.refresh();
    lease.start();
    await clock.advance(600_000);
    assert.equal(store.renewed.length, 0);
    assert.equal(store.issued.length, 2);
    await clock.advance(5_000);
    assert.deepEqual(store.revoked, ['lease-1']);
  });

  test('Vault unreachable: the lease is kept and renewal retried until Vault answers', async () => {
    const { store, clock, lease, keyId, pair, events } = setup((s) => s.renewAnswers.push(unreachable(), unreachable()));
    await keyId.refresh();
    lease.start();
    await clock.advance(600_000);
    assert.deepEqual(renewals(events), ['error']);
    assert.deepEqual(pair(), { id: 'AK-1', secret: 'SK-1' }, 'the current lease is still used');
    await clock.advance(10_000); // retry after min(maxRetry, left/2)
    assert.deepEqual(renewals(events), ['error', 'error']);
    await clock.advance(10_000);
    assert.deepEqual(renewals(events), ['error', 'error', 'renewed']);
    assert.equal(store.issued.length, 1);
  });

  test('a failed re-read keeps the last good lease and is retried', async () => {
    const { store, clock, lease, keyId, pair, events } = setup((s) => s.renewAnswers.push(refused()));
    await keyId.refresh();
    store.issueFailures.push(new Error('Vault answered 503'));
    lease.start();
    await clock.advance(600_000);
    assert.deepEqual(pair(), { id: 'AK-1', secret: 'SK-1' });
    assert.ok(events.some((e) => e.kind === 'read' && !e.ok));
    assert.equal(keyId.lastError, 'Vault answered 503');
    assert.equal(keyId.status, 'ok', 'a value is still held');
    await clock.advance(10_000);
    assert.deepEqual(pair(), { id: 'AK-2', secret: 'SK-2' });
    assert.equal(keyId.lastError, undefined);
    await clock.advance(5_000);
    assert.deepEqual(store.revoked, ['lease-1']);
  });

  test('a lease without a referenced field is a failed read naming the reference and field, and is given back', async () => {
    const { store, keyId, secret } = setup((s) => (s.fields = (n) => ({ access_key: `AK-${n}` })));
    await assert.rejects(keyId.refresh(), /\$\{test-dynamic:aws\/creds\/bedrock#secret_key\}: the lease has no field "secret_key" \(it has: access_key\)/);
    assert.equal(secret.status, 'error');
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(store.revoked, ['lease-1']);
  });

  test('close() revokes the lease and stops renewing', async () => {
    const { store, clock, lease, keyId } = setup();
    await keyId.refresh();
    lease.start();
    await lease.close();
    assert.deepEqual(store.revoked, ['lease-1']);
    assert.equal(clock.pending, 0);
    await clock.advance(600_000);
    assert.equal(store.renewed.length, 0);
  });

  test('an unreachable Vault does not hold up close(): the revocation gives up after its timeout and is reported', async () => {
    const store = new ScriptedLeases();
    const events: LeaseEvent[] = [];
    const lease = new LeasedSecret(store, 'aws/creds/bedrock', { clock: new FakeClock(), onEvent: (e) => events.push(e), closeTimeoutMs: 50 });
    await lease.field(parseSecretRef('${test-dynamic:aws/creds/bedrock#access_key}')!, 'access_key').refresh();
    store.revokeHangs = true;
    const started = Date.now();
    // A real revocation holds a socket open; this fake one holds nothing, so keep the loop alive.
    const keepAlive = setInterval(() => undefined, 1000);
    await lease.close().finally(() => clearInterval(keepAlive));
    assert.ok(Date.now() - started < 2000, 'close returned');
    assert.deepEqual(events.at(-1), { kind: 'revocation', ok: false, error: 'cannot reach Vault: aborted' });
  });

  test('the pair is matched at every step of many replacements (refused, max TTL, not renewable)', async () => {
    const { store, clock, lease, keyId, assertMatched } = setup((s) => s.renewAnswers.push(refused(), { durationSeconds: 100, renewable: true }, refused()));
    await keyId.refresh();
    lease.start();
    for (let i = 0; i < 40; i++) {
      await clock.advance(70_000);
      assertMatched();
    }
    assert.ok(store.issued.length >= 3, `replaced several times (${store.issued.length} leases)`);
    await clock.advance(5_000);
    assert.deepEqual(store.revoked, store.issued.slice(0, -1).map((l) => l.id), 'every replaced lease is revoked, the current one is not');
  });
});
