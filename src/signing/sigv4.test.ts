import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { readTestdata, testdataDir, testdataSkip } from '../../test/helpers/testdata.js';
import { GatewayError } from '../errors/gateway-error.js';
import type { UpstreamRequest } from '../upstream/types.js';
import {
  deriveSigningKey,
  isSignableHeader,
  SigningKeyCache,
  signSigV4,
  sigV4Parts,
  type AwsCredential,
  type SigV4Input,
  type SigV4Options,
  type SigV4Scope,
} from './sigv4.js';

// The credentials every AWS suite case is signed with (testdata README, section 1).
const SUITE_CRED: AwsCredential = {
  type: 'aws',
  accessKeyId: 'AKIDEXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
};
const SUITE_REGION = 'us-east-1';
const SUITE_SERVICE = 'service';
const signAll = (): boolean => true;

const CLASSIC = 'aws-sigv4/aws-sig-v4-test-suite';
const ADDITIONS = 'aws-sigv4/aws-c-auth-additions';
const SUITE_V4 = 'aws-sigv4/aws-signing-test-suite-v4';
const MANTLE = 'aws-sigv4/openai-python-bedrock-mantle';

// ---- reading the vectors --------------------------------------------------------------------

/**
 * How a header line that starts with whitespace (obsolete line folding) is read: `raw` keeps it
 * in the value, newline and all, for the signer to collapse into single spaces (what aws-c-auth
 * later settled on); `list` makes it a further value of the header, which the signer joins
 * with ',' (what the original 2015 vector expects).
 */
type Folding = 'raw' | 'list';

interface ParsedRequest {
  input: SigV4Input;
  /** Header values by lower-case name. */
  header(name: string): string | undefined;
}

/** Parses a vector's HTTP/1.1 text. The target may contain spaces (`GET /example space/ HTTP/1.1`). */
function parseHttp(text: string, folding: Folding): ParsedRequest {
  const lines = text.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  const requestLine = lines[0]!;
  const method = requestLine.slice(0, requestLine.indexOf(' '));
  const path = requestLine.slice(method.length + 1, requestLine.lastIndexOf(' '));
  const headers: Record<string, string[]> = {};
  let last: string[] | undefined;
  let i = 1;
  for (; i < lines.length && lines[i] !== ''; i++) {
    const line = lines[i]!;
    if (line.startsWith(' ') || line.startsWith('\t')) {
      assert.ok(last, `continuation line without a header: ${line}`);
      if (folding === 'raw') last[last.length - 1] += '\n' + line;
      else last.push(line);
      continue;
    }
    const colon = line.indexOf(':');
    const name = line.slice(0, colon);
    last = headers[name] ??= [];
    last.push(line.slice(colon + 1));
  }
  const body = lines.slice(i + 1).join('\n');
  return {
    input: { method, path, headers, body: body === '' ? null : Buffer.from(body) },
    header(name) {
      const found = Object.keys(headers).find((k) => k.toLowerCase() === name);
      return found === undefined ? undefined : headers[found]!.join(',').trim();
    },
  };
}

/** `20150830T123600Z` → Date. */
function fromAmzDate(s: string): Date {
  return new Date(`${s.slice(0, 4)}-${s.slice(4, 6)}-${s.slice(6, 11)}:${s.slice(11, 13)}:${s.slice(13, 15)}Z`);
}

function text(sub: string, name: string): string {
  return readTestdata(sub, name).toString('utf8');
}

/** Case folders of the classic format: folders holding `<name>.req`, searched recursively. */
function classicCases(sub: string): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    const dir = join(testdataDir(sub), rel);
    for (const name of readdirSync(dir).sort()) {
      if (!statSync(join(dir, name)).isDirectory()) continue;
      const caseRel = rel === '' ? name : `${rel}/${name}`;
      if (readdirSync(join(dir, name)).includes(`${name}.req`)) out.push(caseRel);
      else walk(caseRel);
    }
  };
  walk('');
  return out;
}

/** The value of one header in a signed-request file. */
function sreqHeader(sreq: string, name: string): string {
  const line = sreq.split('\n').find((l) => l.toLowerCase().startsWith(`${name}:`));
  assert.ok(line, `${name} not in the signed request`);
  return line.slice(name.length + 1).trim();
}

/** The signature as the signer computes it from a string to sign: HMAC(kSigning, sts). */
function signatureOf(stringToSign: string, date: string): string {
  return createHmac('sha256', deriveSigningKey(SUITE_CRED.secretAccessKey, date, SUITE_REGION, SUITE_SERVICE))
    .update(stringToSign)
    .digest('hex');
}

function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Signs a classic-format case the way its files describe and returns the parts. */
function signClassic(sub: string, rel: string, folding: Folding, cred: AwsCredential, options: SigV4Options = {}) {
  const name = rel.slice(rel.lastIndexOf('/') + 1);
  const req = parseHttp(text(sub, `${rel}/${name}.req`), folding);
  const scope: SigV4Scope = { region: SUITE_REGION, service: SUITE_SERVICE, host: req.header('host')! };
  const now = fromAmzDate(req.header('x-amz-date')!);
  const parts = sigV4Parts(req.input, cred, scope, { now, signHeader: signAll, ...options });
  return {
    parts,
    req,
    expected: {
      creq: text(sub, `${rel}/${name}.creq`),
      sts: text(sub, `${rel}/${name}.sts`),
      authz: text(sub, `${rel}/${name}.authz`),
      sreq: text(sub, `${rel}/${name}.sreq`),
    },
  };
}

// ---- 1. the original AWS suite --------------------------------------------------------------

/** Cases handled by their own test below (upstream quirks, testdata README §1a). */
const CLASSIC_SPECIAL = new Set([
  'get-header-value-multiline',
  'post-sts-token/post-sts-header-after',
  'post-sts-token/post-sts-header-before',
  'post-x-www-form-urlencoded',
  'post-x-www-form-urlencoded-parameters',
]);

describe('SigV4 over the original AWS test suite (aws-sig-v4-test-suite)', { skip: testdataSkip(CLASSIC) }, () => {
  const cases = testdataSkip(CLASSIC) === false ? classicCases(CLASSIC) : [];
  const stsToken = () => text(CLASSIC, 'post-sts-token/readme.txt').trimEnd().split('\r\n').at(-1)!;

  test('has all 31 cases, each one tested below', () => {
    assert.equal(cases.length, 31);
    for (const c of CLASSIC_SPECIAL) assert.ok(cases.includes(c), c);
  });

  for (const rel of cases.filter((c) => !CLASSIC_SPECIAL.has(c))) {
    test(`${rel}: canonical request, string to sign, authorization`, () => {
      const { parts, expected } = signClassic(CLASSIC, rel, 'raw', SUITE_CRED);
      assert.equal(parts.canonicalRequest, expected.creq);
      assert.equal(parts.stringToSign, expected.sts);
      assert.equal(parts.authorization, expected.authz);
    });
  }

  test('get-header-value-multiline, folded lines read as a comma list as this original vector expects', () => {
    const { parts, expected } = signClassic(CLASSIC, 'get-header-value-multiline', 'list', SUITE_CRED);
    assert.equal(parts.canonicalRequest, expected.creq);
    assert.equal(parts.stringToSign, expected.sts);
    assert.equal(parts.authorization, expected.authz);
  });

  test('post-sts-token/post-sts-header-before: the token (from readme.txt) is signed', () => {
    const cred = { ...SUITE_CRED, sessionToken: stsToken() };
    const { parts, expected } = signClassic(CLASSIC, 'post-sts-token/post-sts-header-before', 'raw', cred);
    assert.equal(parts.canonicalRequest, expected.creq);
    assert.equal(parts.stringToSign, expected.sts);
    assert.equal(parts.authorization, expected.authz);
  });

  test('post-sts-token/post-sts-header-after: the token is sent but left out of the signature', () => {
    const rel = 'post-sts-token/post-sts-header-after';
    const cred = { ...SUITE_CRED, sessionToken: stsToken() };
    const noToken = (name: string) => name !== 'x-amz-security-token';
    const { parts, req, expected } = signClassic(CLASSIC, rel, 'raw', cred, { signHeader: noToken });
    assert.equal(parts.canonicalRequest, expected.creq);
    assert.equal(parts.stringToSign, expected.sts);
    assert.equal(parts.authorization, expected.authz);
    // signSigV4 itself: the headers it sets are those of the signed request.
    const upstream: UpstreamRequest = { method: req.input.method, path: req.input.path, headers: {}, body: null };
    const signed = signSigV4(upstream, cred, { region: SUITE_REGION, service: SUITE_SERVICE, host: 'example.amazonaws.com' }, {
      now: fromAmzDate('20150830T123600Z'),
      signHeader: noToken,
    });
    for (const name of ['x-amz-date', 'x-amz-security-token', 'authorization']) {
      assert.equal(signed.headers[name], sreqHeader(expected.sreq, name), name);
    }
  });

  // Their .creq lists content-length, but the signatures were made over a canonical request
  // without it, so the .creq does not hash to the .sts (README §1a): these two are checked from
  // the string to sign onward.
  test('post-x-www-form-urlencoded: .sts → .authz (its .creq is inconsistent); the default header selection, which leaves content-length out, reproduces the .sts', () => {
    const rel = 'post-x-www-form-urlencoded';
    const { expected } = signClassic(CLASSIC, rel, 'raw', SUITE_CRED);
    const signature = signatureOf(expected.sts, '20150830');
    assert.ok(expected.authz.endsWith(`, Signature=${signature}`));
    const { parts } = signClassic(CLASSIC, rel, 'raw', SUITE_CRED, { signHeader: isSignableHeader });
    assert.notEqual(sha256Hex(expected.creq), expected.sts.split('\n')[3]);
    assert.equal(parts.stringToSign, expected.sts);
    assert.equal(parts.authorization, expected.authz);
  });

  test('post-x-www-form-urlencoded-parameters: .sts → .authz signature (its .creq and .authz SignedHeaders are inconsistent); the .sts was made over "charset=utf8" without content-length', () => {
    const rel = 'post-x-www-form-urlencoded-parameters';
    const { req, expected } = signClassic(CLASSIC, rel, 'raw', SUITE_CRED);
    assert.notEqual(sha256Hex(expected.creq), expected.sts.split('\n')[3]);
    const signature = signatureOf(expected.sts, '20150830');
    assert.ok(expected.authz.endsWith(`, Signature=${signature}`));
    assert.ok(expected.authz.startsWith('AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, '));
    // Neither the .req nor the .creq hashes to the .sts; the request that does is the .req with
    // `charset=utf8` and without content-length, signed as the .sreq's Authorization says.
    assert.equal(req.header('content-type'), 'application/x-www-form-urlencoded; charset=utf-8');
    const variant: SigV4Input = { ...req.input, headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf8' } };
    const scope: SigV4Scope = { region: SUITE_REGION, service: SUITE_SERVICE, host: 'example.amazonaws.com' };
    const parts = sigV4Parts(variant, SUITE_CRED, scope, { now: fromAmzDate('20150830T123600Z') });
    assert.equal(parts.stringToSign, expected.sts);
    assert.equal(parts.authorization, sreqHeader(expected.sreq, 'authorization'));
  });
});

// ---- 2. later aws-c-auth additions ----------------------------------------------------------

describe('SigV4 over the aws-c-auth additions', { skip: testdataSkip(ADDITIONS) }, () => {
  const cases = testdataSkip(ADDITIONS) === false ? classicCases(ADDITIONS) : [];

  test('has all 3 cases', () => {
    assert.deepEqual(cases, ['get-header-value-multiline', 'get-vanilla-query-order-encoded', 'get-vanilla-with-session-token']);
  });

  for (const rel of cases) {
    const title =
      rel === 'get-vanilla-with-session-token'
        ? `${rel}: canonical request, string to sign, authorization (.authz; its .sreq signature is wrong, the token is read from it)`
        : rel === 'get-header-value-multiline'
          ? `${rel}: folded lines become single spaces (corrected vector)`
          : `${rel}: canonical request, string to sign, authorization`;
    test(title, () => {
      const sreq = text(ADDITIONS, `${rel}/${rel}.sreq`);
      const cred = rel === 'get-vanilla-with-session-token' ? { ...SUITE_CRED, sessionToken: sreqHeader(sreq, 'x-amz-security-token') } : SUITE_CRED;
      const { parts, expected } = signClassic(ADDITIONS, rel, 'raw', cred);
      assert.equal(parts.canonicalRequest, expected.creq);
      assert.equal(parts.stringToSign, expected.sts);
      assert.equal(parts.authorization, expected.authz);
    });
  }
});

// ---- 3. the successor suite (header form) ---------------------------------------------------

interface V4Context {
  credentials: { access_key_id: string; secret_access_key: string; token?: string };
  region: string;
  service: string;
  timestamp: string;
  normalize: boolean;
  sign_body: boolean;
  omit_session_token?: boolean;
}

describe('SigV4 over aws-signing-test-suite/v4, Authorization-header form', { skip: testdataSkip(SUITE_V4) }, () => {
  const cases =
    testdataSkip(SUITE_V4) === false
      ? readdirSync(testdataDir(SUITE_V4))
          .filter((name) => statSync(join(testdataDir(SUITE_V4), name)).isDirectory())
          .sort()
      : [];

  test('has all 38 cases, each with a context.json', () => {
    assert.equal(cases.length, 38);
    for (const c of cases) assert.ok(readdirSync(join(testdataDir(SUITE_V4), c)).includes('context.json'), c);
  });

  for (const name of cases) {
    test(`${name}: canonical request, string to sign, signature`, () => {
      const ctx = JSON.parse(text(SUITE_V4, `${name}/context.json`)) as V4Context;
      const req = parseHttp(text(SUITE_V4, `${name}/request.txt`), 'raw');
      const cred: AwsCredential = {
        type: 'aws',
        accessKeyId: ctx.credentials.access_key_id,
        secretAccessKey: ctx.credentials.secret_access_key,
        ...(ctx.credentials.token === undefined ? {} : { sessionToken: ctx.credentials.token }),
      };
      const scope: SigV4Scope = { region: ctx.region, service: ctx.service, host: req.header('host')! };
      const parts = sigV4Parts(req.input, cred, scope, {
        now: new Date(ctx.timestamp),
        normalizePath: ctx.normalize,
        signBody: ctx.sign_body,
        signHeader: ctx.omit_session_token === true ? (h) => h !== 'x-amz-security-token' : signAll,
      });
      assert.equal(parts.canonicalRequest, text(SUITE_V4, `${name}/header-canonical-request.txt`));
      assert.equal(parts.stringToSign, text(SUITE_V4, `${name}/header-string-to-sign.txt`));
      assert.equal(parts.signature, text(SUITE_V4, `${name}/header-signature.txt`).trim());
    });
  }
});

// ---- 4. openai-python's Bedrock Mantle vector -----------------------------------------------

describe('SigV4 over openai-python bedrock-mantle sigv4.json', { skip: testdataSkip(MANTLE) }, () => {
  test('payload hash, canonical request hash, authorization (default header selection, signBody)', () => {
    const v = JSON.parse(text(MANTLE, 'sigv4.json')) as {
      signingDate: string;
      region: string;
      service: string;
      credentials: { accessKeyId: string; secretAccessKey: string; sessionToken: string };
      request: { method: string; url: string; body: string; contentType: string };
      expected: { date: string; payloadHash: string; canonicalRequestHash: string; authorization: string };
    };
    const url = new URL(v.request.url);
    const cred: AwsCredential = { type: 'aws', ...v.credentials };
    const scope: SigV4Scope = { region: v.region, service: v.service, host: url.host };
    const req: UpstreamRequest = {
      method: v.request.method,
      path: url.pathname + url.search,
      headers: { 'content-type': v.request.contentType },
      body: Buffer.from(v.request.body),
    };
    const options: SigV4Options = { now: new Date(v.signingDate), signBody: true };
    const parts = sigV4Parts(req, cred, scope, options);
    assert.equal(parts.payloadHash, v.expected.payloadHash);
    assert.equal(sha256Hex(parts.canonicalRequest), v.expected.canonicalRequestHash);
    assert.equal(parts.authorization, v.expected.authorization);

    const signed = signSigV4(req, cred, scope, options);
    assert.equal(signed.headers['x-amz-date'], v.expected.date);
    assert.equal(signed.headers['x-amz-content-sha256'], v.expected.payloadHash);
    assert.equal(signed.headers['x-amz-security-token'], v.credentials.sessionToken);
    assert.equal(signed.headers['authorization'], v.expected.authorization);
  });
});

// ---- Bedrock: against the AWS SDK's own signer ----------------------------------------------

const BEDROCK_CRED: AwsCredential = {
  type: 'aws',
  accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
};
const SESSION_TOKEN = 'IQoJb3JpZ2luX2VjEXAMPLE//////////wEaCXVzLWVhc3QtMSJHMEUCIQ+EXAMPLE/token==';
const FIXED_DATE = new Date('2024-11-05T09:08:07.654Z');
const JSON_BODY = Buffer.from(JSON.stringify({ anthropic_version: 'bedrock-2023-05-31', max_tokens: 64, messages: [{ role: 'user', content: 'Hi: 100% "ok"?' }] }));

interface BedrockCase {
  method: 'GET' | 'POST';
  path: string;
  host: string;
}
const BEDROCK_CASES: BedrockCase[] = [
  { method: 'POST', host: 'bedrock-runtime.us-east-1.amazonaws.com', path: '/model/us.anthropic.claude-3-5-sonnet-20241022-v2%3A0/invoke' },
  {
    method: 'POST',
    host: 'bedrock-runtime.us-east-1.amazonaws.com',
    path: '/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus.anthropic.claude-3-5-sonnet-20241022-v2%3A0/converse-stream',
  },
  { method: 'POST', host: 'bedrock-runtime.us-east-1.amazonaws.com', path: '/model/amazon.titan-embed-text-v2:0/invoke' },
  { method: 'POST', host: '127.0.0.1:4567', path: '/model/anthropic.claude-3-haiku-20240307-v1%3A0/invoke-with-response-stream' },
  { method: 'GET', host: 'bedrock.us-east-1.amazonaws.com', path: '/foundation-models?byProvider=anthropic&byOutputModality=TEXT' },
  { method: 'GET', host: 'bedrock.us-east-1.amazonaws.com', path: '/inference-profiles?maxResults=10&nextToken=ab%2Bc%2Fd%3D%3D&typeEquals=SYSTEM_DEFINED' },
];

/** What the AWS SDK signs for the same request: its path is the serializer's (encoded) path, its query decoded. */
async function smithyAuthorization(c: BedrockCase, cred: AwsCredential, signBody: boolean): Promise<string> {
  const signer = new SignatureV4({
    credentials: { accessKeyId: cred.accessKeyId, secretAccessKey: cred.secretAccessKey, ...(cred.sessionToken ? { sessionToken: cred.sessionToken } : {}) },
    region: 'us-east-1',
    service: 'bedrock',
    sha256: Hash.bind(null, 'sha256'),
    applyChecksum: signBody,
  });
  const [path, search = ''] = c.path.split('?') as [string, string?];
  const query: Record<string, string> = {};
  for (const pair of search.split('&').filter(Boolean)) {
    const [k, v = ''] = pair.split('=') as [string, string?];
    query[decodeURIComponent(k)] = decodeURIComponent(v);
  }
  const hasBody = c.method === 'POST';
  const signed = await signer.sign(
    {
      method: c.method,
      protocol: 'https:',
      hostname: c.host.split(':')[0]!,
      path,
      query,
      headers: { host: c.host, ...(hasBody ? { 'content-type': 'application/json' } : {}) },
      ...(hasBody ? { body: JSON_BODY } : {}),
    },
    { signingDate: FIXED_DATE },
  );
  return signed.headers['authorization']!;
}

describe('SigV4 for Bedrock requests, against @smithy/signature-v4', () => {
  for (const c of BEDROCK_CASES) {
    for (const withToken of [false, true]) {
      for (const signBody of [false, true]) {
        test(`${c.method} ${c.path} (${withToken ? 'session token' : 'no token'}, ${signBody ? 'x-amz-content-sha256' : 'no body header'})`, async () => {
          const cred = withToken ? { ...BEDROCK_CRED, sessionToken: SESSION_TOKEN } : BEDROCK_CRED;
          const req: UpstreamRequest = {
            method: c.method,
            path: c.path,
            headers: c.method === 'POST' ? { 'content-type': 'application/json' } : {},
            body: c.method === 'POST' ? JSON_BODY : null,
          };
          const signed = signSigV4(req, cred, { region: 'us-east-1', service: 'bedrock', host: c.host }, { now: FIXED_DATE, signBody });
          assert.equal(signed.headers['authorization'], await smithyAuthorization(c, cred, signBody));
        });
      }
    }
  }

  test('the wire path is encoded once more: %3A → %253A, a raw colon → %3A', () => {
    const scope: SigV4Scope = { region: 'us-east-1', service: 'bedrock', host: 'bedrock-runtime.us-east-1.amazonaws.com' };
    const path = (p: string) => sigV4Parts({ method: 'POST', path: p, headers: {}, body: null }, BEDROCK_CRED, scope, { now: FIXED_DATE }).canonicalRequest.split('\n')[1];
    assert.equal(path('/model/us.anthropic.claude-3-5-sonnet-20241022-v2%3A0/invoke'), '/model/us.anthropic.claude-3-5-sonnet-20241022-v2%253A0/invoke');
    assert.equal(path('/model/amazon.titan-embed-text-v2:0/invoke'), '/model/amazon.titan-embed-text-v2%3A0/invoke');
    assert.equal(path('/a b/ሴ/😀'), '/a%20b/%E1%88%B4/%F0%9F%98%80');
    assert.equal(path(''), '/');
  });

  test('query keys and values are decoded, re-encoded per AWS (space %20, plus %2B) and sorted', () => {
    const scope: SigV4Scope = { region: 'us-east-1', service: 'bedrock', host: 'h' };
    const query = (p: string) => sigV4Parts({ method: 'GET', path: p, headers: {}, body: null }, BEDROCK_CRED, scope, { now: FIXED_DATE }).canonicalRequest.split('\n')[2];
    assert.equal(query('/?b=2&a=%7e+x&&c&a=1%20%zz'), 'a=1%20%25zz&a=~%2Bx&b=2&c=');
  });
});

describe('signSigV4', () => {
  const scope: SigV4Scope = { region: 'us-east-1', service: 'bedrock', host: 'bedrock-runtime.us-east-1.amazonaws.com' };

  test('never signs hop-by-hop, transport, tracing or user-agent headers', () => {
    const req: UpstreamRequest = {
      method: 'POST',
      path: '/model/m/invoke',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json',
        'anthropic-beta': 'x',
        'x-amz-user-agent': 'aws-sdk-js/3',
        connection: 'keep-alive',
        'keep-alive': 'timeout=5',
        'transfer-encoding': 'chunked',
        te: 'trailers',
        trailer: 'x',
        upgrade: 'h2c',
        expect: '100-continue',
        'proxy-authorization': 'Basic x',
        'proxy-connection': 'close',
        'user-agent': 'llmproxy',
        'x-amzn-trace-id': 'Root=1-0',
        'content-length': '2',
        'sec-fetch-mode': 'cors',
        authorization: 'AWS4-HMAC-SHA256 stale',
      },
      body: Buffer.from('{}'),
    };
    const { signedHeaders } = sigV4Parts(req, BEDROCK_CRED, scope, { now: FIXED_DATE });
    assert.equal(signedHeaders, 'accept;anthropic-beta;content-type;host;x-amz-date;x-amz-user-agent');
  });

  test('owns x-amz-date, x-amz-security-token, x-amz-content-sha256 and authorization; re-signing is idempotent', () => {
    const req: UpstreamRequest = {
      method: 'POST',
      path: '/model/m/invoke',
      headers: { 'content-type': 'application/json', 'x-amz-security-token': 'client-token', 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', 'x-amz-date': '19700101T000000Z' },
      body: Buffer.from('{}'),
    };
    const signed = signSigV4(req, BEDROCK_CRED, scope, { now: FIXED_DATE });
    assert.equal(signed.headers['x-amz-security-token'], undefined);
    assert.equal(signed.headers['x-amz-content-sha256'], undefined);
    assert.equal(signed.headers['x-amz-date'], '20241105T090807Z');
    const first = signed.headers['authorization'];
    assert.match(first!, /SignedHeaders=content-type;host;x-amz-date, /);
    assert.equal(signSigV4(signed, BEDROCK_CRED, scope, { now: FIXED_DATE }).headers['authorization'], first);
  });

  test('the request passed in is left unchanged: a retry signs it afresh', () => {
    const req: UpstreamRequest = { method: 'POST', path: '/model/m/invoke', headers: { 'content-type': 'application/json', 'x-amz-security-token': 'client-token' }, body: Buffer.from('{}') };
    const before = { ...req, headers: { ...req.headers } };
    const signed = signSigV4(req, { ...BEDROCK_CRED, sessionToken: 'session' }, scope, { now: FIXED_DATE, signBody: true });
    assert.deepEqual(req, before);
    assert.notEqual(signed.headers, req.headers);
    assert.equal(signed.headers['x-amz-security-token'], 'session');
    assert.match(signed.headers['authorization']!, /^AWS4-HMAC-SHA256 Credential=/);
    assert.equal(signed.headers['x-amz-content-sha256'], sha256Hex('{}'));
  });

  test('header values are trimmed, inner whitespace runs collapsed, names lower-cased, repeats joined with ","', () => {
    const input: SigV4Input = { method: 'GET', path: '/', headers: { 'X-Custom': [' a  b ', '\tc\r\n d '], 'x-other': 'plain' }, body: null };
    const { canonicalRequest } = sigV4Parts(input, BEDROCK_CRED, scope, { now: FIXED_DATE });
    assert.ok(canonicalRequest.includes('\nx-custom:a b,c d\nx-other:plain\n'), canonicalRequest);
  });

  test('refuses to sign for another host than the request names', () => {
    const req: UpstreamRequest = { method: 'GET', path: '/', headers: { host: 'evil.example' }, body: null };
    assert.throws(
      () => signSigV4(req, BEDROCK_CRED, scope),
      (e: unknown) => e instanceof GatewayError && e.code === 'internal_error',
    );
  });

  test('uses the current time when none is given', () => {
    const req: UpstreamRequest = { method: 'GET', path: '/', headers: {}, body: null };
    const before = Date.now();
    const signedAt = fromAmzDate(signSigV4(req, BEDROCK_CRED, scope).headers['x-amz-date']!).getTime();
    assert.ok(signedAt >= Math.floor(before / 1000) * 1000 && signedAt <= Date.now());
  });
});

describe('SigningKeyCache', () => {
  test('gives the same signatures as fresh derivation across dates, regions and services, and stays bounded', () => {
    const cache = new SigningKeyCache(8);
    const req: SigV4Input = { method: 'POST', path: '/model/m/invoke', headers: { 'content-type': 'application/json' }, body: JSON_BODY };
    const regions = ['us-east-1', 'us-west-2', 'eu-central-1', 'ap-northeast-1', 'eu-west-3'];
    const services = ['bedrock', 'sts'];
    for (let round = 0; round < 2; round++) {
      for (let day = 1; day <= 3; day++) {
        const now = new Date(Date.UTC(2024, 10, day, 12));
        for (const region of regions) {
          for (const service of services) {
            const s: SigV4Scope = { region, service, host: 'h' };
            const cached = sigV4Parts(req, BEDROCK_CRED, s, { now, keyCache: cache });
            const date = cached.amzDate.slice(0, 8);
            const expected = createHmac('sha256', deriveSigningKey(BEDROCK_CRED.secretAccessKey, date, region, service)).update(cached.stringToSign).digest('hex');
            assert.equal(cached.signature, expected);
            assert.equal(cached.signature, sigV4Parts(req, BEDROCK_CRED, s, { now, keyCache: new SigningKeyCache(1) }).signature);
            assert.ok(cache.size <= 8);
          }
        }
      }
    }
  });

  test('returns the cached key while it is in use, and drops keys of earlier days', () => {
    const cache = new SigningKeyCache(8);
    const a = cache.get('secret-a', '20241101', 'us-east-1', 'bedrock');
    assert.equal(cache.get('secret-a', '20241101', 'us-east-1', 'bedrock'), a);
    cache.get('secret-b', '20241101', 'us-east-1', 'bedrock');
    assert.equal(cache.size, 2);
    cache.get('secret-b', '20241102', 'us-east-1', 'bedrock');
    assert.equal(cache.size, 1);
    assert.notEqual(cache.get('secret-a', '20241102', 'us-east-1', 'bedrock').key.toString('hex'), a.key.toString('hex'));
  });

  test('evicts the least recently used key beyond its bound', () => {
    const cache = new SigningKeyCache(2);
    const a = cache.get('a', '20241101', 'r', 's');
    cache.get('b', '20241101', 'r', 's');
    assert.equal(cache.get('a', '20241101', 'r', 's'), a);
    cache.get('c', '20241101', 'r', 's');
    assert.equal(cache.size, 2);
    assert.equal(cache.get('a', '20241101', 'r', 's'), a); // b was evicted, not a
    assert.throws(() => new SigningKeyCache(0), RangeError);
  });
});
