import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { RequestContext } from '../request/context.js';
import type { Middleware } from '../request/types.js';
import { compose, sequence } from './compose.js';

const ctx = {} as RequestContext;

/** A step that logs `name` before and after the rest of the chain. */
function step(log: string[], name: string): Middleware {
  return async (_ctx, next) => {
    log.push(`${name}>`);
    await next();
    log.push(`<${name}`);
  };
}

describe('compose and sequence', () => {
  test('a sequence inside a chain runs its steps in place, in order, around the rest', async () => {
    const log: string[] = [];
    const inner = sequence([step(log, 'b'), step(log, 'c')]);
    await compose([step(log, 'a'), sequence([inner, step(log, 'd')]), step(log, 'e')])(ctx);
    assert.deepEqual(log, ['a>', 'b>', 'c>', 'd>', 'e>', '<e', '<d', '<c', '<b', '<a']);
  });

  test('a sequence called on its own runs its steps, then its next', async () => {
    const log: string[] = [];
    const seq = sequence([step(log, 'x'), step(log, 'y')]);
    await seq(ctx, async () => {
      log.push('next');
    });
    assert.deepEqual(log, ['x>', 'y>', 'next', '<y', '<x']);
  });

  test('a step of a sequence that does not call next ends the whole chain there', async () => {
    const log: string[] = [];
    const stop: Middleware = async () => {
      log.push('stop');
    };
    await compose([sequence([step(log, 'a'), stop]), step(log, 'never')])(ctx);
    assert.deepEqual(log, ['a>', 'stop', '<a']);
  });

  test('an error thrown by a spliced step rejects the chain', async () => {
    const boom: Middleware = () => {
      throw new Error('boom');
    };
    await assert.rejects(compose([sequence([async (_c, next) => next(), boom])])(ctx), /boom/);
  });

  test('calling next twice rejects', async () => {
    const twice: Middleware = async (_c, next) => {
      await next();
      await next();
    };
    await assert.rejects(compose([sequence([twice, async () => undefined])])(ctx), /more than once/);
  });
});
