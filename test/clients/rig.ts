import { randomBytes } from 'node:crypto';
import { AnthropicEmulator } from '../emulators/anthropic.js';
import { AwsAccounts, type IamUser } from '../emulators/aws-accounts.js';
import { BedrockEmulator } from '../emulators/bedrock.js';
import { OpenAIEmulator } from '../emulators/openai.js';
import { VertexEmulator } from '../emulators/vertex.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

/** The OpenAI key the gateway holds for its `oai` instance; a client never sees it. */
export const OPENAI_PROVIDER_KEY = 'sk-provider-clients-0123456789';
/** The Anthropic key the gateway holds for its `anth` instance. */
export const ANTHROPIC_PROVIDER_KEY = 'sk-ant-provider-clients-0123456789';
/** The Google access token the gateway's `gcp` (Vertex) instance holds. */
export const VERTEX_TOKEN = 'ya29.a0-clients-vertex-token';
/** Claude on Vertex, as Vertex names it. */
export const VERTEX_CLAUDE = 'claude-sonnet-4-5@20250929';
/** A Claude inference profile the Bedrock emulator serves in us-east-1 (Converse and InvokeModel). */
export const BEDROCK_CLAUDE = 'us.anthropic.claude-3-5-sonnet-20241022-v2:0';

/**
 * What the real-client suites run against: an OpenAI emulator behind instance `oai`, an
 * Anthropic emulator behind `anth`, a Bedrock emulator behind the default instance `bedrock_us1`
 * (signed with an emulated IAM user's keys), a Vertex emulator behind `gcp`, and a gateway on
 * loopback with aliases (`fast` → OpenAI, `claude` → Bedrock). Each suite starts its own.
 *
 * @example
 * const rig = await startClientRig();
 * const openai = createOpenAI({ baseURL: `${rig.gw.url}/v1`, apiKey: rig.key });
 * await rig.close();
 */
export interface ClientRig {
  gw: TestGateway;
  openai: OpenAIEmulator;
  anthropic: AnthropicEmulator;
  vertex: VertexEmulator;
  bedrock: BedrockEmulator;
  /** The IAM user whose keys the gateway signs Bedrock requests with. */
  awsUser: IamUser;
  /** An unscoped developer key. */
  key: string;
  close(): Promise<void>;
}

export async function startClientRig(): Promise<ClientRig> {
  const accounts = new AwsAccounts();
  const awsUser = accounts.addUser('gateway');
  const openai = await new OpenAIEmulator([OPENAI_PROVIDER_KEY]).start();
  const anthropic = await new AnthropicEmulator([ANTHROPIC_PROVIDER_KEY]).start();
  const bedrock = await new BedrockEmulator({ accounts, region: 'us-east-1' }).start();
  const vertex = await new VertexEmulator([VERTEX_TOKEN], { project: 'proj-clients', location: 'us-east5' }).start();
  process.env['CLIENTS_VERTEX_TOKEN'] = VERTEX_TOKEN;
  process.env['CLIENTS_OPENAI_KEY'] = OPENAI_PROVIDER_KEY;
  process.env['CLIENTS_ANTHROPIC_KEY'] = ANTHROPIC_PROVIDER_KEY;
  process.env['CLIENTS_AWS_SECRET'] = awsUser.secretAccessKey;
  const emulators = [openai, anthropic, vertex, bedrock];
  // If the gateway cannot start, the emulators close here: their listeners would otherwise keep
  // the test file running forever after its failed `before` (the rig is never returned to close).
  const gw = await startGateway({
    instances: {
      oai: { type: 'openai', endpoint: openai.url, authentication: { type: 'api_key', api_key: '${env:CLIENTS_OPENAI_KEY}' } },
      anth: { type: 'anthropic', endpoint: anthropic.url, authentication: { type: 'api_key', api_key: '${env:CLIENTS_ANTHROPIC_KEY}' } },
      gcp: { type: 'vertex', project: 'proj-clients', location: 'us-east5', endpoint: vertex.url, authentication: { type: 'access_token', token: '${env:CLIENTS_VERTEX_TOKEN}' } },
      bedrock_us1: {
        type: 'bedrock',
        region: 'us-east-1',
        default: true,
        endpoint: bedrock.url,
        control_endpoint: bedrock.url,
        authentication: { type: 'access_keys', access_key_id: awsUser.accessKeyId, secret_access_key: '${env:CLIENTS_AWS_SECRET}' },
      },
    },
    model_aliases: { fast: 'oai/gpt-4o-mini', claude: `bedrock_us1/${BEDROCK_CLAUDE}` },
  }).catch(async (err: unknown) => {
    await Promise.all(emulators.map((e) => e.close()));
    throw err;
  });
  const key = await gw.key({ name: 'real-client' });
  return {
    gw,
    openai,
    anthropic,
    vertex,
    bedrock,
    awsUser,
    key,
    async close() {
      await gw.close();
      await Promise.all(emulators.map((e) => e.close()));
    },
  };
}

/**
 * A key in the gateway's format (`llmp_<id>_<secret>`) that it never issued, so a client's
 * wrong-key case reaches the key lookup rather than a format check.
 */
export function unknownGatewayKey(): string {
  const alnum = (n: number) => randomBytes(n * 2).toString('base64').replace(/[^0-9A-Za-z]/g, '').slice(0, n).padEnd(n, '0');
  return `llmp_${alnum(12)}_${alnum(38)}`;
}
