/** The IAM token exchange lives in `cloud-identity/`, shared with the `${ibm-sm:...}` secret store. */
export * from '../../cloud-identity/ibm-iam.js';
