import { awsKind } from './aws/kind.js';
import { azureKind } from './azure/kind.js';
import { gcpKind } from './gcp/kind.js';
import { ibmKind } from './ibm/kind.js';
import type { RegisteredCredentialKind } from './kind.js';
import { ociKind } from './oci/kind.js';
import { staticKind } from './static/kind.js';

/**
 * The only list of credential kinds. Adding a kind is one folder under `credentials/` (its
 * schemas, its builder and a `kind.ts` declaring it `satisfies CredentialKind`) plus one line
 * here; `test/contracts/credential-kinds.test.ts` then asks for its refresh contract case.
 */
export const CREDENTIAL_KINDS: readonly RegisteredCredentialKind[] = [staticKind, awsKind, azureKind, gcpKind, ibmKind, ociKind];
