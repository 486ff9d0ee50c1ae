import { z } from 'zod';
import { duration, endpointUrl, secretRef } from '../../config-fields/fields.js';

/** The instance metadata service (IMDS v2) of every OCI compute instance; `metadata_url` overrides it. */
export const DEFAULT_METADATA_URL = 'http://169.254.169.254/opc/v2';

/**
 * `authentication: { type: api_key, tenancy, user, fingerprint, private_key: "${file:...}" }`:
 * an OCI API signing key (https://docs.oracle.com/iaas/Content/API/Concepts/apisigningkey.htm).
 * Requests are signed with `keyId = {tenancy}/{user}/{fingerprint}`; the PEM (PKCS#1 or PKCS#8,
 * optionally encrypted with `passphrase`) is a secret reference, re-read on the secret interval.
 */
export const ociApiKeyAuth = z.strictObject({
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
 * `authentication: { type: instance_principal, metadata_url?, federation_endpoint? }`: the
 * compute instance's own identity. The gateway reads the instance certificate, its key and the
 * intermediate certificate from the instance metadata service, generates a session RSA key
 * pair and exchanges the certificate at the auth service's X.509 federation endpoint
 * (`POST {federation_endpoint}/v1/x509`) for a security token bound to the session key; every
 * request is then signed with `keyId = ST${token}` and the session key, and the token is
 * renewed before it expires. No secret in the config.
 * See https://docs.oracle.com/iaas/Content/Identity/Tasks/callingservicesfrominstances.htm
 */
export const ociInstancePrincipalAuth = z.strictObject({
  type: z.literal('instance_principal'),
  /** The instance metadata service, default `http://169.254.169.254/opc/v2` (`/identity/cert.pem`, `/instance/region`, ...). */
  metadata_url: endpointUrl().optional(),
  /**
   * The auth service, default `https://auth.{region}.{realm domain}` for the instance's region
   * as the metadata service reports it (`/instance/region`); set it for a private endpoint.
   */
  federation_endpoint: endpointUrl().optional(),
});

/**
 * `authentication: { type: resource_principal }`: the identity an OCI service (Functions, Data
 * Science, Container Instances, ...) gives the resource the gateway runs in, described by the
 * environment, version 2.2 only: `OCI_RESOURCE_PRINCIPAL_VERSION=2.2`,
 * `OCI_RESOURCE_PRINCIPAL_RPST` (the resource principal session token, or an absolute path to
 * it), `OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM` (the key the RPST is bound to, or an absolute path),
 * optional `OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM_PASSPHRASE` (a value, or a path when the PEM is
 * one) and `OCI_RESOURCE_PRINCIPAL_REGION`. Requests are signed with `keyId = ST${rpst}`; files
 * are re-read whenever the RPST nears its `exp`.
 */
export const ociResourcePrincipalAuth = z.strictObject({
  type: z.literal('resource_principal'),
});

/** `authentication` of an OCI instance, discriminated by `type`. */
export const ociAuthSchema = z.discriminatedUnion('type', [ociApiKeyAuth, ociInstancePrincipalAuth, ociResourcePrincipalAuth]);
export type OciAuth = z.output<typeof ociAuthSchema>;
export type OciApiKeyAuth = z.output<typeof ociApiKeyAuth>;
export type OciInstancePrincipalAuth = z.output<typeof ociInstancePrincipalAuth>;
