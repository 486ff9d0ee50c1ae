import { albKind } from './alb/kind.js';
import { apiKeyKind } from './api-key/kind.js';
import { basicKind } from './basic/kind.js';
import { kubernetesKind } from './kubernetes/kind.js';
import { oidcKind } from './oidc/kind.js';
import { sessionKind } from './session/kind.js';
import { totpKind } from './totp/kind.js';

/**
 * The only list of client-auth kinds, in the order their authenticators are asked whether a
 * request is theirs: sessions, Basic, the ALB header (before any JWT), Kubernetes service-account
 * tokens (JWTs whose `iss` is the cluster's), every other JWT (OIDC), and API keys last, which
 * also decide requests that present no credential. Each kind's section joins the `auth` schema.
 * Adding a kind is one folder with `config.ts` and `kind.ts`, plus one line here;
 * `test/contracts/client-auth-kinds.test.ts` then asks for its refusal cases.
 */
export const CLIENT_AUTH_KINDS = [sessionKind, basicKind, totpKind, albKind, kubernetesKind, oidcKind, apiKeyKind] as const;
