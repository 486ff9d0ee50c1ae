import { BedrockRuntimeClient } from '@aws-sdk/client-bedrock-runtime';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';

/** AWS credentials a client signs with against the gateway; the gateway strips them and signs with its own. */
const CLIENT_DUMMY_CREDENTIALS = { accessKeyId: 'AKIDCLIENTDUMMY00000', secretAccessKey: 'client-dummy-secret' };

/** The AWS SDK as a client would use it against the gateway: dummy AWS credentials, the gateway key in `x-api-key`. */
export function sdkWithHeaderKey(endpoint: string, key: string, extraHeaders: Record<string, string> = {}): BedrockRuntimeClient {
  const client = new BedrockRuntimeClient({ region: 'us-east-1', endpoint, credentials: CLIENT_DUMMY_CREDENTIALS, maxAttempts: 1 });
  client.middlewareStack.add(
    (next) => (args) => {
      const headers = (args.request as { headers: Record<string, string> }).headers;
      headers['x-api-key'] = key;
      Object.assign(headers, extraHeaders);
      return next(args);
    },
    { step: 'finalizeRequest', name: 'llmproxyKey' },
  );
  return client;
}

/**
 * A GET as an AWS SDK without its own command here (the control-plane `@aws-sdk/client-bedrock`
 * is not installed) sends it: SigV4-signed with the client's own (dummy) credentials for service
 * `bedrock`, the path as given (already percent-encoded), plus the gateway key in `x-api-key`.
 */
export async function signedGet(url: string, key: string): Promise<Response> {
  const u = new URL(url);
  const signer = new SignatureV4({ service: 'bedrock', region: 'us-east-1', credentials: CLIENT_DUMMY_CREDENTIALS, sha256: Hash.bind(null, 'sha256') });
  const signed = await signer.sign({
    method: 'GET',
    protocol: u.protocol,
    hostname: u.hostname,
    ...(u.port === '' ? {} : { port: Number(u.port) }),
    path: u.pathname,
    query: Object.fromEntries(u.searchParams),
    headers: { host: u.host },
  });
  const headers: Record<string, string> = { 'x-api-key': key };
  for (const [name, value] of Object.entries(signed.headers)) if (name !== 'host') headers[name] = value;
  return fetch(url, { headers });
}
