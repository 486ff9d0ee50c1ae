import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError, validate } from '../../config/load.js';
import { oci, regionEndpoint } from './index.js';

const TENANCY = 'ocid1.tenancy.oc1..aaaaaaaatenancy';
const USER = 'ocid1.user.oc1..aaaaaaaauser';
const AUTH = { type: 'api_key', tenancy: TENANCY, user: USER, fingerprint: '20:3b:97:13:55:1c:5b:0d:d3:37:d8:50:4e:c5:3a:34', private_key: '${file:/run/secrets/oci.pem}' };
const COMPARTMENT = 'ocid1.compartment.oc1..aaaaaaaacompartment';

function problems(instance: Record<string, unknown>): string[] {
  try {
    validate({ instances: { o: { type: 'oci', region: 'us-chicago-1', compartment_id: COMPARTMENT, authentication: AUTH, ...instance } } }, 'test');
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.problems;
  }
  return [];
}

describe('oci instance config', () => {
  test('region, compartment and an API signing key; a passphrase is optional', () => {
    assert.deepEqual(problems({}), []);
    assert.deepEqual(problems({ authentication: { ...AUTH, passphrase: '${env:OCI_KEY_PASSPHRASE}', refresh_interval: '1m' } }), []);
  });

  const bad: Array<[string, Record<string, unknown>, string]> = [
    ['no compartment', { compartment_id: undefined }, 'instances.o.compartment_id: required'],
    ['a compartment that is not an OCID', { compartment_id: 'my-compartment' }, 'instances.o.compartment_id: must be a compartment OCID'],
    ['no region', { region: undefined }, 'instances.o.region: required'],
    ['a region that is not one', { region: 'Chicago' }, 'instances.o.region: must be an OCI region'],
    ['a literal private key', { authentication: { ...AUTH, private_key: '-----BEGIN PRIVATE KEY-----' } }, 'instances.o.authentication.private_key: a literal secret is refused'],
    ['a bad fingerprint', { authentication: { ...AUTH, fingerprint: '20:3b' } }, 'instances.o.authentication.fingerprint: must be'],
    ['a user that is not a user OCID', { authentication: { ...AUTH, user: TENANCY } }, 'instances.o.authentication.user: must be a user OCID'],
    ['an unknown field', { compartmentId: COMPARTMENT }, 'instances.o.compartmentId: unknown field'],
  ];
  for (const [name, instance, problem] of bad) {
    test(`refused: ${name}`, () => {
      const found = problems(instance);
      assert.ok(found.some((p) => p.startsWith(problem)), `${problem} not in ${JSON.stringify(found)}`);
    });
  }

  test('the endpoint follows the region', () => {
    assert.deepEqual(regionEndpoint('us-chicago-1'), { origin: 'https://inference.generativeai.us-chicago-1.oci.oraclecloud.com', basePath: '' });
  });

  test('transparent rules: the three inference actions only', () => {
    assert.deepEqual(oci.transparentRules.map((r) => r.source), ['POST 20231130/actions/chat', 'POST 20231130/actions/embedText', 'POST 20231130/actions/generateText']);
  });
});
