import { z } from 'zod';
import { duration, type Endpoint } from '../../config-fields/fields.js';
import { kindContext } from '../../credentials/kind.js';
import { ociAuthSchema } from '../../credentials/oci/index.js';
import { ociKind } from '../../credentials/oci/kind.js';
import { signOci, type OciCredential } from '../../signing/oci.js';
import { instanceSchema } from '../instance-schema.js';
import { endpointTable } from '../endpoint-names.js';
import { rules } from '../transparent-path.js';
import { defineProvider, type ProviderParts } from '../types.js';
import { compartmentBody } from './compartment-scope.js';
import { ociChat } from './openai_to_oci.js';
import { ociUsage } from './usage.js';

const schema = instanceSchema(
  'oci',
  {
    /** OCI region of the Generative AI inference endpoint: us-chicago-1, eu-frankfurt-1, uk-london-1, … */
    region: z.string().regex(/^[a-z]{2,}(?:-[a-z]+)+-\d+$/, 'must be an OCI region such as us-chicago-1'),
    /** The compartment every call runs in and is billed to. */
    compartment_id: z.string().regex(/^ocid1\.(?:compartment|tenancy)\.[a-z0-9-]+\.[a-z0-9-]*\.[a-z0-9]+$/, 'must be a compartment OCID (ocid1.compartment.oc1..…)'),
    /** Renew `instance_principal` / `resource_principal` security tokens this long before they expire; default 5m. */
    credential_refresh_window: duration().optional(),
  },
  ociAuthSchema,
);

/** The Generative AI inference endpoint of a region (the OCI SDKs' `GenerativeAiInferenceClient` host). */
export function regionEndpoint(region: string): Endpoint {
  return { origin: `https://inference.generativeai.${region}.oci.oraclecloud.com`, basePath: '' };
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
  endpointOf: endpointTable({ chat: ['POST 20231130/actions/chat'], embeddings: ['POST 20231130/actions/embedText'], completions: ['POST 20231130/actions/generateText'] }),
  // A client's own OCI signature material must never reach OCI next to the gateway's.
  strippedHeaders: new Set(['x-content-sha256', 'date', 'x-date', 'opc-obo-token']),
  usage: ociUsage,
  completionCapFields: ['chatRequest.maxTokens', 'chatRequest.maxCompletionTokens'],
  samples: {
    column: { place: 10 },
    instances: [
      {
        config: {
          region: 'us-chicago-1',
          compartment_id: 'ocid1.compartment.oc1..aaaaaaaacompartment',
          authentication: { type: 'api_key', tenancy: 'ocid1.tenancy.oc1..aaaaaaaatenancy', user: 'ocid1.user.oc1..aaaaaaaauser', fingerprint: '20:3b:97:13:55:1c:5b:0d:d3:37:d8:50:4e:c5:3a:34', private_key: '${file:/nonexistent/oci.pem}' },
        },
        // GENERIC and COHERE request formats.
        chat: ['meta.llama-3.3-70b-instruct', 'cohere.command-r-plus'],
        embeddings: [],
      },
    ],
    transcripts: { none: 'no OCI Generative AI response transcripts are recorded in ../shared/testdata (its oci-signature set is request signing only); oci/usage.test.ts covers the shapes from the API reference' },
  },
  // A session token OCI no longer accepts (instance and resource principals): 401 NotAuthenticated.
  // Refreshed once and retried; for API-key signing the retry fails the same way and is reported.
  staleCredential: (status) => status === 401,
  probe: {
    none: 'the inference host serves only signed POST actions (chat, embedText); listing models is on the control-plane host, which an instance does not configure',
  },
  setup(name, config, ctx): ProviderParts<OciCredential> {
    const hosts = new Map<string, string>();
    const hostOf = (endpoint: Endpoint): string => {
      let host = hosts.get(endpoint.origin);
      if (host === undefined) hosts.set(endpoint.origin, (host = new URL(endpoint.origin).host));
      return host;
    };
    const compartmentId = config.compartment_id;
    const { credential, close } = ociKind.build(config.authentication, kindContext(ctx, name, 'oci', config.credential_refresh_window));
    return {
      credential,
      ...(close ? { close: async () => close() } : {}),
      sign: (req, cred, endpoint) => signOci(req, cred, hostOf(endpoint)),
      region: config.region,
      endpoint: regionEndpoint(config.region),
      chat: ociChat({ compartmentId }),
      transparentBody: (_method, segments, body) => compartmentBody(compartmentId, segments, body),
    };
  },
});
