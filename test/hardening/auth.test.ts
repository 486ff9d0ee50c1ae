import { hashPassword } from '../../src/clientauth/basic/password.js';
import { totpFor } from '../../src/clientauth/totp/codes.js';
import { enrolTotp, totpSecretBox } from '../../src/clientauth/totp/enrol.js';
import { authCases, type AuthWorld } from './auth.cases.js';
import { baseConfig, caseTests, category, issueKey, type Arena } from './support.js';

const STEP_MS = 30_000;
const NO_LIMITS = { rpm: null, tpm: null, budgetUsd: null };

const world: Partial<AuthWorld> = {};
const w = () => world as AuthWorld;

function codeAt(secret: string, steps: number): string {
  return totpFor(secret).generate({ timestamp: Date.now() + steps * STEP_MS });
}

/** Makes the keys, the Basic user and the TOTP enrolments the auth cases use. */
async function setup(arena: Arena): Promise<void> {
  const { gw } = arena;
  const issued = await gw.issued({ name: 'auth-main' });
  arena.secrets.push(['client key auth-main', issued.key], ['secret part of auth-main', issued.key.slice(18)]);
  world.key = issued.key;
  world.keyId = issued.id;
  const revoked = await gw.issued({ name: 'auth-revoked' });
  arena.secrets.push(['client key auth-revoked', revoked.key]);
  await gw.app.store.keys.revoke(revoked.id, Date.now() - 1000);
  world.revoked = revoked.key;
  world.expired = await issueKey(arena, 'auth-expired', { expiresAt: Date.now() - 60_000 });

  const box = await totpSecretBox('${env:HARDENING_TOTP_KEY}', gw.dir);
  for (const which of ['totp', 'totpOk'] as const) {
    const k = await gw.issued({ name: `auth-${which}` });
    arena.secrets.push([`client key auth-${which}`, k.key], [`secret part of auth-${which}`, k.key.slice(18)]);
    const enrolment = await enrolTotp(gw.app.store.identity.totp, box, `key:${k.id}`, which, true);
    arena.secrets.push([`TOTP secret of ${which}`, enrolment.secret], ...enrolment.backupCodes.map((c, i): [string, string] => [`backup code ${i} of ${which}`, c]));
    world[`${which}Key`] = k.key;
    world[`${which}Secret`] = enrolment.secret;
  }

  world.user = 'hardening-alice';
  world.password = 'pässword-for-hardening-0123';
  arena.secrets.push(['Basic password', world.password]);
  await gw.app.store.identity.users.create({ name: world.user, role: 'developer', passwordHash: await hashPassword(world.password), scopes: { instances: null, models: null }, limits: NO_LIMITS });
  world.codeFor = (secret) => codeAt(secret, 0);
  world.wrongCodeFor = (secret) => {
    const taken = new Set([-2, -1, 0, 1, 2].map((s) => codeAt(secret, s)));
    for (let i = 0; i < 10; i++) {
      const c = String(123456 + i * 111111).slice(-6);
      if (!taken.has(c)) return c;
    }
    throw new Error('no wrong code found');
  };
}

category(
  'authentication',
  (upstream) =>
    baseConfig(upstream, {
      auth: {
        api_keys: { bootstrap_admin: false, revocation_poll: '100ms', cache_ttl: '10m' },
        failed_attempts: { limit: 1_000_000, max_concurrent_per_client: 64, max_concurrent: 64 },
        basic: { enabled: true, change_poll: '100ms' },
        totp: { encryption_key: '${env:HARDENING_TOTP_KEY}', max_failures: 100 },
      },
    }),
  (arena) => caseTests(arena, authCases(w)),
  setup,
);
