import type { Principal } from '../request/principal.js';
import { compileScopes } from '../clientauth/scopes.js';
import { createLogger, type Logger } from '../observability/logger.js';
import { SecretScrubber } from '../observability/scrubber.js';
import { modelCatalog, type ModelCatalog } from '../providers/catalog.js';
import { PROVIDERS_BY_TYPE } from '../providers/registry.js';
import { completionCaps, type CompletionCaps } from './estimate.js';

/** Shared by the governance unit tests: a principal, and a logger whose lines are kept. */
export function testPrincipal(over: Partial<Principal> = {}): Principal {
  return {
    id: 'k1',
    kind: 'api-key',
    user: null,
    roles: ['developer'],
    scopes: compileScopes({ instances: null, models: null }),
    limits: { rpm: null, tpm: null, budgetUsd: null },
    keyId: 'k1',
    ...over,
  };
}

export function capturingLogger(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger({ level: 'info', scrubber: new SecretScrubber(), destination: { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) } });
  return { logger, lines };
}

/** A settable clock. */
export function manualClock(start: number): { now: () => number; set(t: number): void; advance(ms: number): void } {
  let t = start;
  return { now: () => t, set: (v) => void (t = v), advance: (ms) => void (t += ms) };
}

/** What the registry's providers declare about models, as app.ts hands it to governance. */
export const registryModels: ModelCatalog = modelCatalog(PROVIDERS_BY_TYPE.values());

/** The registry's completion-cap fields, compiled. */
export const registryCaps: CompletionCaps = completionCaps(registryModels.completionCapFields);
