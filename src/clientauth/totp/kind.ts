import type { ClientAuthKind, ClientAuthKindContext, ClientAuthParts } from '../kind.js';
import { totpConfigSchema, type TotpConfig } from './config.js';
import { readTotpKey } from './enrol.js';
import { EnrolmentDirectory } from './enrolments.js';
import { SecondFactorChecker } from './second-factor.js';
import { TotpSecretBox } from './secret-box.js';
import { secondFactorStep } from './step.js';

/** The TOTP policy also reads `auth.basic.require_totp` and `auth.api_keys.require_totp`. */
type Needs = { auth: { totp: TotpConfig; basic: { require_totp: boolean }; api_keys: { require_totp: boolean } } };

/**
 * `auth.totp`: the TOTP second factor. Its step runs after every authentication (it passes
 * requests that need no second factor) and on every exchange for a session.
 */
export const totpKind = {
  name: 'totp',
  section: 'totp',
  schema: totpConfigSchema,
  async setup(ctx: ClientAuthKindContext<Needs>): Promise<ClientAuthParts> {
    const { totp, basic, api_keys } = ctx.config.auth;
    const { logger, throttle, audit, metrics } = ctx;
    const identity = ctx.store.identity;

    const keyMaterial = await readTotpKey(totp.encryption_key, ctx.baseDir);
    // Registered with the log scrubber like every other secret value, should it ever reach a log line.
    if (keyMaterial !== undefined) ctx.scrubber.add(keyMaterial);
    const box = new TotpSecretBox(keyMaterial);
    if (!box.encrypts && (await identity.totp.list()).length > 0) {
      logger.warn('TOTP secrets are stored unencrypted: set auth.totp.encryption_key (a secret reference) to encrypt new enrolments');
    }

    const { trusted, watch } = ctx.local();
    const enrolments = new EnrolmentDirectory(identity.totp, box, trusted, logger);
    watch.onIdentityChange(() => enrolments.clear());
    const checker = new SecondFactorChecker({ store: identity.totp, maxFailures: totp.max_failures, lockoutMs: totp.lockout });
    const stepDeps = {
      enrolments,
      checker,
      policy: { keys: api_keys.require_totp, users: basic.require_totp, roles: new Set(totp.required_roles) },
      throttle,
      audit,
      metrics,
    };
    return { after: [secondFactorStep(stepDeps, 'policy')], exchange: { steps: [secondFactorStep(stepDeps, 'exchange')] }, totpBox: box };
  },
} satisfies ClientAuthKind<'totp', typeof totpConfigSchema, Needs>;
