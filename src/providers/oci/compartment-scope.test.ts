import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { GatewayError } from '../../errors/gateway-error.js';
import { compartmentBody } from './compartment-scope.js';

const OURS = 'ocid1.compartment.oc1..ours';
const CHAT = ['20231130', 'actions', 'chat'];
const code = (c: string) => (e: unknown) => e instanceof GatewayError && e.code === c;

describe('compartmentBody', () => {
  test('the instance\'s compartment is forwarded byte for byte', () => {
    const body = Buffer.from(`{ "compartmentId" : "${OURS}", "servingMode": {} }`);
    assert.equal(compartmentBody(OURS, CHAT, body), body);
  });

  test('a missing compartment is inserted after the brace, the rest untouched', () => {
    assert.equal(compartmentBody(OURS, CHAT, Buffer.from(' {"a":1}'))!.toString(), ` {"compartmentId":"${OURS}","a":1}`);
    assert.equal(compartmentBody(OURS, CHAT, Buffer.from('{}'))!.toString(), `{"compartmentId":"${OURS}"}`);
  });

  test('another compartment is 403; a repeated key, a non-object or no body on an action is 400', () => {
    assert.throws(() => compartmentBody(OURS, CHAT, Buffer.from('{"compartmentId":"ocid1.compartment.oc1..other"}')), code('permission_denied'));
    assert.throws(() => compartmentBody(OURS, CHAT, Buffer.from(`{"compartmentId":"x","compartmentId":"${OURS}"}`)), code('invalid_request'));
    assert.throws(() => compartmentBody(OURS, CHAT, Buffer.from(`{"compartmentId":"${OURS}","\\u0063ompartmentId":"${OURS}"}`)), code('invalid_request'));
    assert.throws(() => compartmentBody(OURS, CHAT, Buffer.from('[1]')), code('invalid_request'));
    assert.throws(() => compartmentBody(OURS, CHAT, Buffer.from('nope')), code('invalid_request'));
    assert.throws(() => compartmentBody(OURS, CHAT, null), code('invalid_request'));
  });

  test('operator-allowed routes are checked but never filled in', () => {
    const other = ['20231130', 'models'];
    const body = Buffer.from('{"a":1}');
    assert.equal(compartmentBody(OURS, other, body), body);
    assert.equal(compartmentBody(OURS, other, null), null);
    assert.throws(() => compartmentBody(OURS, other, Buffer.from('{"compartmentId":"x"}')), code('permission_denied'));
  });
});
