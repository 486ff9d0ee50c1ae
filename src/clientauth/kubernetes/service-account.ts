import type { KubernetesAuthConfig } from './config.js';

export interface ServiceAccount {
  namespace: string;
  name: string;
}

const USERNAME = /^system:serviceaccount:([a-z0-9]([-a-z0-9]*[a-z0-9])?):([a-z0-9]([-.a-z0-9]*[a-z0-9])?)$/;

/** Parses `system:serviceaccount:<namespace>:<name>` (a token's `sub`, a TokenReview username). */
export function parseServiceAccount(username: unknown): ServiceAccount | undefined {
  if (typeof username !== 'string') return undefined;
  const m = USERNAME.exec(username);
  return m ? { namespace: m[1]!, name: m[3]! } : undefined;
}

export function serviceAccountUsername(sa: ServiceAccount): string {
  return `system:serviceaccount:${sa.namespace}:${sa.name}`;
}

/** Roles of the first `allow` rule that matches, or undefined when none does. */
export function allowedRoles(allow: KubernetesAuthConfig['allow'], sa: ServiceAccount): string[] | undefined {
  for (const rule of allow) {
    if (rule.namespace !== sa.namespace) continue;
    if (rule.service_account === '*' || rule.service_account === sa.name) return [...rule.roles];
  }
  return undefined;
}
