import { randomUUID } from 'node:crypto';
import { userInfo } from 'node:os';
import type { AuditDetail, Store } from '../store/types.js';

/** Who runs the CLI, for the audit trail: the operating-system user (`cli:alice`). */
function actor(): string {
  try {
    return `cli:${userInfo().username}`;
  } catch {
    return 'cli:unknown';
  }
}

/**
 * Records a change made from the command line in the audit log, as the admin API records its
 * own: an `admin` event whose reason is the action (`key.revoke`, ...) and whose detail says
 * what changed (before/after, never a secret).
 */
export async function auditCliChange(store: Store, action: string, detail: AuditDetail): Promise<void> {
  await store.audit.append([
    {
      time: Date.now(),
      requestId: `cli-${randomUUID()}`,
      event: 'admin',
      result: 'success',
      reason: action,
      method: 'cli',
      keyId: null,
      user: actor(),
      clientAddress: 'local',
      httpMethod: '-',
      path: `llmproxy ${action}`,
      instance: null,
      detail,
    },
  ]);
}
