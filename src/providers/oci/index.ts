import { createPrivateKey, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import { duration, secretRef, type Endpoint } from '../../config/fields.js';
import { StaticCredential } from '../../credentials/static/index.js';
import type { CachedCredential } from '../../credentials/types.js';
import { GatewayError } from '../../errors/gateway-error.js';
import { signOci, type OciCredential } from '../../signing/oci.js';
import { instanceSchema } from '../instance-schema.js';
import { rules } from '../transparent-path.js';
import { defineProvider, type ProviderContext } from '../types.js';
import { compartmentBody } from './compartment-scope.js';
import { ociChat } from './openai_to_oci.js';
import { ociUsage } from './usage.js';

/**
 * `authentication: { type: api_key, tenancy, user, fingerprint, private_key: "${file:...}" }`:
 * an OCI API signing key (https://docs.oracle.com/iaas/Content/API/Concepts/apisigningkey.htm).
 * Requests are signed with `keyId = {tenancy}/{user}/{fingerprint}`; the PEM (PKCS#1 or PKCS#8,
 * optionally encrypted with `passphrase`) is a secret reference, re-read on the secret interval.
 */
const apiKey = z.strictObject({
  type: z.literal('api_key'),
  tenancy: z.string().regex(/^ocid1\.tenancy\.[a-z0-9-]+\.[a-z0-9-]*\.[a-z0-9]+$/, 'must be a tenancy OCID (ocid1.tenancy.oc1..…)'),
  user: z.string().regex(/^ocid1\.user\.[a-z0-9-]+\.[a-z0-9-]*\.[a-z0-9]+$/, 'must be a user OCID (ocid1.user.oc1..…)'),
  fingerprint: z.string().regex(/^(?:[0-9a-f]{2}:){15}[0-9a-f]{2}$/, 'must be the key\'s MD5 fingerprint (aa:bb:…, 16 bytes)'),
  private_key: secretRef(),
  passphrase: secretRef().optional(),
  /** Overrides `secrets.refresh_interval` for this instance's secrets. */
  refresh_interval: duration().optional(),
});

/**
 * `authentication` of an OCI instance, discriminated by `type`. DESIGN.md §2 also names
 * `instance_principal` and `resource_principal` (security tokens fetched from the instance
 * metadata service / the resource's RPST): each will be one more entry here and one more case
 * in `ociCredential`, its source living in credentials/oci/.
 */
export const ociAuthSchema = z.discriminatedUnion('type', [apiKey]);
export type OciAuth = z.output<typeof ociAuthSchema>;

const schema = instanceSchema(
  'oci',
  {
    /** OCI region of the Generative AI inference endpoint: us-chicago-1, eu-frankfurt-1, uk-london-1, … */
    region: z.string().regex(/^[a-z]{2,}(?:-[a-z]+)+-\d+$/, 'must be an OCI region such as us-chicago-1'),
    /** The compartment every call runs in and is billed to. */
    compartment_id: z.string().regex(/^ocid1\.(?:compartment|tenancy)\.[a-z0-9-]+\.[a-z0-9-]*\.[a-z0-9]+$/, 'must be a compartment OCID (ocid1.compartment.oc1..…)'),
  },
  ociAuthSchema,
);

/** The Generative AI inference endpoint of a region (the OCI SDKs' `GenerativeAiInferenceClient` host). */
export function regionEndpoint(region: string): Endpoint {
  return { origin: `https://inference.generativeai.${region}.oci.oraclecloud.com`, basePath: '' };
}

/** The PEM as a private RSA key; never echoes the key or the passphrase. */
function privateKeyOf(pem: string, passphrase: string | undefined, ref: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey(passphrase === undefined ? pem : { key: pem, passphrase });
  } catch (cause) {
    throw new GatewayError('credential_unavailable', `the OCI private key (${ref}) is not a readable PEM private key${passphrase === undefined ? '' : ' for its passphrase'}`, { cause });
  }
  if (key.asymmetricKeyType !== 'rsa') throw new GatewayError('credential_unavailable', `the OCI private key (${ref}) must be an RSA key`);
  return key;
}

function ociCredential(auth: OciAuth, ctx: ProviderContext): CachedCredential {
  switch (auth.type) {
    case 'api_key': {
      const keyId = `${auth.tenancy}/${auth.user}/${auth.fingerprint}`;
      const pem = ctx.secrets.handle(auth.private_key, auth.refresh_interval);
      const handles = auth.passphrase === undefined ? [pem] : [pem, ctx.secrets.handle(auth.passphrase, auth.refresh_interval)];
      return new StaticCredential(handles, 'api_key', (key, passphrase): OciCredential => ({
        type: 'oci',
        keyId,
        privateKey: privateKeyOf(key!, passphrase, auth.private_key),
      }));
    }
    default:
      return auth.type satisfies never;
  }
}

/**
 * OCI Generative AI inference (`20231130`): chat, embedText and generateText in transparent
 * mode, OpenAI chat completions in protocol mode; every request is signed per OCI HTTP
 * signatures and runs in the instance's compartment.
 */
export const oci = defineProvider({
  type: 'oci',
  // Key scopes check the model a transparent body names.
  bodyModelField: 'servingMode.modelId',
  schema,
  defaultEndpoint: undefined, // derived from the region in setup
  transparentRules: rules('POST 20231130/actions/chat', 'POST 20231130/actions/embedText', 'POST 20231130/actions/generateText'),
  // A client's own OCI signature material must never reach OCI next to the gateway's.
  strippedHeaders: new Set(['x-content-sha256', 'date', 'x-date', 'opc-obo-token']),
  usage: ociUsage,
  setup(_name, config, ctx) {
    const hosts = new Map<string, string>();
    const hostOf = (endpoint: Endpoint): string => {
      let host = hosts.get(endpoint.origin);
      if (host === undefined) hosts.set(endpoint.origin, (host = new URL(endpoint.origin).host));
      return host;
    };
    const compartmentId = config.compartment_id;
    return {
      credential: ociCredential(config.authentication, ctx),
      sign: (req, cred, endpoint) => signOci(req, cred as OciCredential, hostOf(endpoint)),
      region: config.region,
      endpoint: regionEndpoint(config.region),
      chat: ociChat({ compartmentId }),
      transparentBody: (_method, segments, body) => compartmentBody(compartmentId, segments, body),
    };
  },
});
