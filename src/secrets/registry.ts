import { awsSmStore } from './aws-sm.js';
import { azureKvStore } from './azure-kv.js';
import { envStore } from './env.js';
import { fileStore } from './file.js';
import { gcpSmStore } from './gcp-sm.js';
import { ibmSmStore } from './ibm-sm.js';
import type { SecretStore } from './types.js';
import { vaultDynamicStore } from './vault-dynamic.js';
import { vaultStore } from './vault.js';

/** The only list of secret stores. Adding a store is one file plus one line here. */
export const SECRET_STORES: ReadonlyMap<string, SecretStore> = new Map(
  [envStore, fileStore, vaultStore, vaultDynamicStore, awsSmStore, azureKvStore, gcpSmStore, ibmSmStore].map((s) => [s.scheme, s]),
);
