import { GatewayError } from '../../errors/gateway-error.js';
import { topLevelKeys } from '../watsonx/project-scope.js';

/**
 * Transparent mode's guard on what an OCI Generative AI request bills. Every inference call
 * (`20231130/actions/chat`, `embedText`, `generateText`) names the compartment it runs in, and
 * is billed to, in its JSON body (`compartmentId`); the gateway's key may well reach other
 * compartments through the tenancy's policies, and a client must not use them through it.
 *
 * - A body naming the instance's compartment is forwarded byte for byte.
 * - A body naming another compartment is refused with 403 `permission_denied`.
 * - On the inference routes (`20231130/actions/...`) a body without `compartmentId` gets the
 *   instance's inserted right after its opening brace (the other bytes untouched); such a body
 *   must be a JSON object (else 400).
 * - Bodies of routes an operator added (`allow_paths`) are checked the same way when they are
 *   JSON objects, but never filled in.
 * - A body repeating the key is refused (400): JSON.parse keeps the last one, other parsers the
 *   first, and the gateway and OCI must agree on what is billed.
 *
 * @example
 * const body = compartmentBody('ocid1.compartment.oc1..a', ['20231130', 'actions', 'chat'], raw);
 */
export function compartmentBody(compartmentId: string, segments: readonly string[], body: Buffer | null): Buffer | null {
  const inference = segments[0] === '20231130' && segments[1] === 'actions';
  if (body === null || body.length === 0) {
    if (inference) throw new GatewayError('invalid_request', 'the request body must be a JSON object');
    return body;
  }
  const text = body.toString('utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    if (inference) throw new GatewayError('invalid_request', 'the request body is not valid JSON');
    return body;
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    if (inference) throw new GatewayError('invalid_request', 'the request body must be a JSON object');
    return body;
  }
  const fields = parsed as Record<string, unknown>;
  if (Object.hasOwn(fields, 'compartmentId')) {
    if (fields['compartmentId'] !== compartmentId) {
      throw new GatewayError('permission_denied', 'this instance runs in its own compartment: "compartmentId" must be left out or name it');
    }
    if ((text.includes('\\u') || text.indexOf('"compartmentId"') !== text.lastIndexOf('"compartmentId"')) && topLevelKeys(text).filter((k) => k === 'compartmentId').length > 1) {
      throw new GatewayError('invalid_request', '"compartmentId" appears more than once in the request body');
    }
    return body;
  }
  if (!inference) return body;
  const brace = text.indexOf('{'); // only whitespace (ASCII) can precede it: byte offset = character offset
  const insert = `"compartmentId":${JSON.stringify(compartmentId)}${Object.keys(fields).length > 0 ? ',' : ''}`;
  return Buffer.concat([body.subarray(0, brace + 1), Buffer.from(insert), body.subarray(brace + 1)]);
}
