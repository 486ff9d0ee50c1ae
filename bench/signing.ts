import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import { signSigV4, type AwsCredential, type SigV4Scope } from '../src/signing/sigv4.js';
import type { UpstreamRequest } from '../src/upstream/types.js';

/**
 * `node dist/bench/signing.js`: cost of signing one typical Bedrock InvokeModel request (1 KB
 * JSON body, session token) with our SigV4 signer and with the AWS SDK's @smithy/signature-v4.
 * Each signer runs until BENCH_SIGN_ITERATIONS (default 200000) signatures or
 * BENCH_SIGN_SECONDS (default 5), whichever comes first, after a short warm-up.
 */

const MAX_ITERATIONS = positiveInt('BENCH_SIGN_ITERATIONS', 200_000);
const MAX_SECONDS = positiveInt('BENCH_SIGN_SECONDS', 5);

const cred: AwsCredential = {
  type: 'aws',
  accessKeyId: 'ASIAIOSFODNN7EXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
  sessionToken: 'IQoJb3JpZ2luX2VjEXAMPLE'.repeat(40),
};
const scope: SigV4Scope = { region: 'us-east-1', service: 'bedrock', host: 'bedrock-runtime.us-east-1.amazonaws.com' };
const path = '/model/us.anthropic.claude-3-5-sonnet-20241022-v2%3A0/invoke';
const body = Buffer.from(
  JSON.stringify({
    anthropic_version: 'bedrock-2023-05-31',
    max_tokens: 512,
    messages: [{ role: 'user', content: 'x'.repeat(900) }],
  }),
);

const smithy = new SignatureV4({
  credentials: { accessKeyId: cred.accessKeyId, secretAccessKey: cred.secretAccessKey, sessionToken: cred.sessionToken! },
  region: scope.region,
  service: scope.service,
  sha256: Hash.bind(null, 'sha256'),
  applyChecksum: false,
});

function signOurs(): void {
  const req: UpstreamRequest = { method: 'POST', path, headers: { 'content-type': 'application/json', accept: 'application/json' }, body };
  signSigV4(req, cred, scope);
}

async function signSmithy(): Promise<void> {
  await smithy.sign({
    method: 'POST',
    protocol: 'https:',
    hostname: scope.host,
    path,
    query: {},
    headers: { host: scope.host, 'content-type': 'application/json', accept: 'application/json' },
    body,
  });
}

/** Runs `fn` until the iteration or time bound; returns [iterations, seconds]. */
async function measure(fn: () => void | Promise<void>): Promise<[number, number]> {
  for (let i = 0; i < 2_000; i++) await fn();
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(MAX_SECONDS) * 1_000_000_000n;
  let n = 0;
  while (n < MAX_ITERATIONS) {
    // Check the clock every 1000 signatures, not on each.
    for (let i = 0; i < 1_000; i++) await fn();
    n += 1_000;
    if (process.hrtime.bigint() > deadline) break;
  }
  return [n, Number(process.hrtime.bigint() - start) / 1e9];
}

function report(label: string, [n, seconds]: [number, number]): void {
  const us = ((seconds / n) * 1e6).toFixed(2);
  const ops = Math.round(n / seconds);
  console.log(`${label.padEnd(22)} ${us.padStart(7)} µs/op  ${String(ops).padStart(8)} ops/s  (${n} signatures in ${seconds.toFixed(2)} s)`);
}

function positiveInt(name: string, fallback: number): number {
  const raw = process.env[name];
  const n = raw === undefined ? fallback : Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a positive integer`);
  return n;
}

console.log(`SigV4, POST ${path}, ${body.length}-byte body, session token, Node ${process.version}`);
report('sigv4 (ours)', await measure(signOurs));
report('@smithy/signature-v4', await measure(signSmithy));
