import { billingScopedBody } from '../billing-scope.js';

/**
 * OCI Generative AI bills the compartment its JSON body names (`compartmentId`); transparent
 * bodies are held to the instance's (see billingScopedBody). The inference routes, where a
 * missing one is filled in, are `20231130/actions/...`.
 *
 * @example
 * const body = compartmentBody('ocid1.compartment.oc1..a', ['20231130', 'actions', 'chat'], raw);
 */
export function compartmentBody(compartmentId: string, segments: readonly string[], body: Buffer | null): Buffer | null {
  const inference = segments[0] === '20231130' && segments[1] === 'actions';
  return billingScopedBody({ field: 'compartmentId', value: compartmentId, kind: 'compartment' }, inference, body);
}
