import { z } from 'zod';
import { endpointListProblem } from '../../clientauth/scopes.js';
import { ENDPOINT_NAMES } from '../../providers/endpoint-names.js';

/** Body fields keys and users share: scope lists, limits, endpoint names. */
export const names = z.array(z.string().min(1).max(256)).min(1).max(100);
export const limit = z.number().int().positive().nullable();
export const endpointNames = z
  .array(z.string())
  .min(1)
  .max(ENDPOINT_NAMES.length)
  .superRefine((list, ctx) => {
    const problem = endpointListProblem(list);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
  });
