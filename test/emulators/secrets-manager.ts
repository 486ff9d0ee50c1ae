import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type AwsAccounts, wireRequest } from './aws-accounts.js';

/**
 * AWS Secrets Manager emulator on loopback: the JSON 1.1 protocol (`POST /`,
 * `X-Amz-Target: secretsmanager.GetSecretValue`), SigV4 verified through {@link AwsAccounts}
 * (service `secretsmanager`), secrets with versions (`put` adds a new AWSCURRENT version),
 * per-principal denial (AccessDeniedException), ResourceNotFoundException for unknown ids, and a
 * `down` switch that drops every connection.
 * https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetSecretValue.html
 */
export class SecretsManagerEmulator {
  readonly accounts: AwsAccounts;
  readonly region: string;
  /** While true, every connection is dropped without an answer. */
  down = false;
  /** Principal ARNs (users, or session `assumedRoleArn`s) refused with AccessDeniedException. */
  readonly denied = new Set<string>();
  readonly counters = { requests: 0, reads: 0, failures: 0 };
  /** Every GetSecretValue received: the secret id and the access key that signed it. */
  readonly log: Array<{ secretId: string; accessKeyId: string | undefined }> = [];
  /** name -> versions, oldest first. */
  readonly #secrets = new Map<string, Array<{ versionId: string; value: string; created: number }>>();
  #server: Server | undefined;
  #url = '';

  constructor(options: { accounts: AwsAccounts; region: string }) {
    this.accounts = options.accounts;
    this.region = options.region;
  }

  get url(): string {
    return this.#url;
  }

  async start(): Promise<this> {
    this.#server = createServer((req, res) => void this.#dispatch(req, res));
    await new Promise<void>((r) => this.#server!.listen(0, '127.0.0.1', r));
    this.#url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }

  arn(name: string): string {
    return `arn:aws:secretsmanager:${this.region}:${this.accounts.accountId}:secret:${name}-AbCdEf`;
  }

  /** Stores a new current version of `name`; returns its version id. */
  put(name: string, value: string | Record<string, unknown>): string {
    const versions = this.#secrets.get(name) ?? [];
    const versionId = randomUUID();
    versions.push({ versionId, value: typeof value === 'string' ? value : JSON.stringify(value), created: Date.now() });
    this.#secrets.set(name, versions);
    return versionId;
  }

  versions(name: string): number {
    return this.#secrets.get(name)?.length ?? 0;
  }

  #find(id: string): { name: string; versions: Array<{ versionId: string; value: string; created: number }> } | undefined {
    for (const [name, versions] of this.#secrets) if (id === name || id === this.arn(name)) return { name, versions };
    return undefined;
  }

  async #dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (this.down) {
      req.socket.destroy();
      return;
    }
    this.counters.requests++;
    const chunks: Buffer[] = [];
    for await (const c of req as AsyncIterable<Buffer>) chunks.push(c);
    const body = Buffer.concat(chunks);
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const send = (status: number, payload: unknown) => {
      if (status !== 200) this.counters.failures++;
      const text = JSON.stringify(payload);
      res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', 'content-length': Buffer.byteLength(text), 'x-amzn-requestid': randomUUID() });
      res.end(text);
    };
    const error = (status: number, type: string, message: string) => send(status, { __type: type, message, Message: message });

    const verdict = this.accounts.authenticateSigV4(
      wireRequest({ method: req.method ?? 'POST', path: q < 0 ? url : url.slice(0, q), query: q < 0 ? '' : url.slice(q + 1), body }, req.headersDistinct),
      { region: this.region, service: 'secretsmanager' },
    );
    if (!verdict.ok) {
      const type = { missing: 'MissingAuthenticationTokenException', incomplete: 'IncompleteSignatureException', 'invalid-signature': 'InvalidSignatureException', 'invalid-token': 'UnrecognizedClientException', 'expired-token': 'ExpiredTokenException' }[verdict.reason];
      return error(verdict.reason === 'missing' ? 403 : 400, type, verdict.message);
    }
    if (!(await verdict.signatureMatches)) return error(400, 'InvalidSignatureException', 'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.');

    const target = req.headers['x-amz-target'];
    if (target !== 'secretsmanager.GetSecretValue') return error(400, 'UnknownOperationException', '');
    let input: { SecretId?: unknown };
    try {
      input = JSON.parse(body.toString('utf8')) as { SecretId?: unknown };
    } catch {
      return error(400, 'SerializationException', 'Start of structure or map found where not expected.');
    }
    const secretId = typeof input.SecretId === 'string' ? input.SecretId : '';
    this.log.push({ secretId, accessKeyId: verdict.accessKeyId });
    const principalArn = verdict.principal.kind === 'user' ? verdict.principal.arn : verdict.principal.assumedRoleArn;
    if (this.denied.has(principalArn)) {
      return error(400, 'AccessDeniedException', `User: ${principalArn} is not authorized to perform: secretsmanager:GetSecretValue on resource: ${secretId} because no identity-based policy allows the secretsmanager:GetSecretValue action`);
    }
    const found = this.#find(secretId);
    if (!found || found.versions.length === 0) return error(400, 'ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
    this.counters.reads++;
    const current = found.versions[found.versions.length - 1]!;
    send(200, {
      ARN: this.arn(found.name),
      Name: found.name,
      VersionId: current.versionId,
      SecretString: current.value,
      VersionStages: ['AWSCURRENT'],
      CreatedDate: current.created / 1000,
    });
  }
}
