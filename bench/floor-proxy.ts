import { createHash, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { signSigV4, type AwsCredential } from '../src/signing/sigv4.js';

/**
 * The floor `npm run bench` measures the gateway against: the least a Node gateway must do per
 * request, with no framework. node:http in; one client key checked (SHA-256, then a
 * constant-time compare); the provider's credential put in its place; the body forwarded
 * unchanged over a keep-alive node:http Agent; the answer (JSON or SSE) piped back unchanged.
 * No logs, metrics, limits or accounting: what the gateway costs beyond this is its own work.
 *
 * Routes, the gateway's transparent paths (so a benchmark target differs only in its origin):
 *   POST /transparent/openai/<path>   → the OpenAI upstream, `Authorization: Bearer <provider key>`
 *   POST /transparent/bedrock/<path>  → the Bedrock upstream, SigV4-signed per request with the
 *                                       gateway's own signer (src/signing/sigv4.ts): a gateway
 *                                       cannot replay a presigned request, so neither does the floor
 *   GET  /health
 *
 * Environment: FLOOR_CLIENT_KEY, FLOOR_OPENAI_URL, FLOOR_PROVIDER_KEY, FLOOR_BEDROCK_URL,
 * FLOOR_AWS_ACCESS_KEY_ID, FLOOR_AWS_SECRET_ACCESS_KEY. Listens on 127.0.0.1, a free port,
 * printed as one JSON line (`{"url":...}`) once it listens.
 */

const clientKey = digest(required('FLOOR_CLIENT_KEY'));
const openai = new URL(required('FLOOR_OPENAI_URL'));
const providerAuth = `Bearer ${required('FLOOR_PROVIDER_KEY')}`;
const bedrock = new URL(required('FLOOR_BEDROCK_URL'));
const aws: AwsCredential = { type: 'aws', accessKeyId: required('FLOOR_AWS_ACCESS_KEY_ID'), secretAccessKey: required('FLOOR_AWS_SECRET_ACCESS_KEY') };
const bedrockScope = { region: 'us-east-1', service: 'bedrock', host: bedrock.host };
const agent = new http.Agent({ keepAlive: true, maxSockets: 512 });
const OPENAI_PREFIX = '/transparent/openai';
const BEDROCK_PREFIX = '/transparent/bedrock';

const server = http.createServer({ keepAlive: true }, (req, res) => {
  const url = req.url ?? '/';
  if (req.method === 'GET' && url === '/health') return void res.writeHead(200, { 'content-length': 2 }).end('ok');
  const route = req.method !== 'POST' ? undefined : url.startsWith(`${OPENAI_PREFIX}/`) ? 'openai' : url.startsWith(`${BEDROCK_PREFIX}/`) ? 'bedrock' : undefined;
  if (route === undefined) return fail(req, res, 404, 'not found');
  if (!authorized(req.headers.authorization)) return fail(req, res, 401, 'invalid gateway key');
  const parts: Buffer[] = [];
  req.on('data', (c: Buffer) => parts.push(c));
  req.on('end', () => {
    const body = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    if (route === 'openai') forward(res, openai, url.slice(OPENAI_PREFIX.length), { 'content-type': 'application/json', authorization: providerAuth }, body);
    else forward(res, bedrock, url.slice(BEDROCK_PREFIX.length), signedBedrockHeaders(url.slice(BEDROCK_PREFIX.length), body), body);
  });
});
server.keepAliveTimeout = 65_000;
server.listen(0, '127.0.0.1', () => process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` })}\n`));
process.once('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});

function authorized(header: string | undefined): boolean {
  return header !== undefined && header.startsWith('Bearer ') && timingSafeEqual(digest(header.slice(7)), clientKey);
}

function signedBedrockHeaders(path: string, body: Buffer): Record<string, string> {
  return signSigV4({ method: 'POST', path, headers: { 'content-type': 'application/json' }, body }, aws, bedrockScope).headers;
}

/** Sends `body` to `origin` + `path` and pipes the answer back; a client gone early cancels the upstream request. */
function forward(res: http.ServerResponse, origin: URL, path: string, headers: Record<string, string>, body: Buffer): void {
  headers['content-length'] = String(body.length);
  const up = http.request({ agent, host: origin.hostname, port: origin.port, method: 'POST', path, headers }, (answer) => {
    const out: Record<string, string> = { 'content-type': answer.headers['content-type'] ?? 'application/json' };
    if (answer.headers['content-length'] !== undefined) out['content-length'] = answer.headers['content-length'];
    res.writeHead(answer.statusCode ?? 502, out);
    answer.pipe(res);
  });
  up.on('error', () => (res.headersSent ? res.destroy() : fail(undefined, res, 502, 'upstream error')));
  res.once('close', () => {
    if (!res.writableFinished) up.destroy();
  });
  up.end(body);
}

function fail(req: http.IncomingMessage | undefined, res: http.ServerResponse, status: number, message: string): void {
  req?.resume();
  const text = JSON.stringify({ error: { message, type: 'gateway_error' } });
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

function required(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} must be set`);
  return v;
}
