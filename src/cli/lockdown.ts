import { randomUUID } from 'node:crypto';
import { userInfo } from 'node:os';
import { emergencyVariable, lockdownAuditEvent, readLockdown, writeInstanceDisabled, writeLockdown, type LockdownState } from '../governance/lockdown.js';
import type { Store } from '../store/types.js';
import { UsageError } from './args.js';
import { withCliStore } from './usage.js';

export const LOCKDOWN_USAGE = `usage:
  llmproxy lockdown on|off [--reason TEXT] [--json]
  llmproxy lockdown status [--json]
  llmproxy lockdown instance NAME on|off [--reason TEXT] [--json]`;

/**
 * `llmproxy lockdown`: the emergency switch, written to the store; every running gateway sharing
 * it applies a change within `lockdown.poll_interval` (1 s by default). `instance NAME on`
 * disables one instance (503 `instance_disabled`). Changes are audited (`event: 'lockdown'`).
 */
export async function lockdownCommand(args: string[], out: (s: string) => void): Promise<number> {
  return withCliStore(args, { reason: { type: 'string' } }, async (store, values, positionals, config) => {
    const [sub, ...rest] = positionals;
    const reason = values['reason'] as string | undefined;
    const json = values['json'] === true;
    switch (sub) {
      case 'on':
      case 'off': {
        if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}"`);
        const on = sub === 'on';
        const actor = cliActor();
        await writeLockdown(store.governance.settings, on, actor, reason);
        await store.audit.append([lockdownAuditEvent({ on, actor, reason, method: 'cli', requestId: `cli-${randomUUID()}` })]);
        const state = await currentState(store);
        if (json) return out(JSON.stringify(state, null, 2));
        out(
          on
            ? `lockdown ON: running gateways answer 503 on every inference route within ${config.lockdown.poll_interval} ms and cut in-flight requests`
            : state.on
              ? `lockdown OFF in the store, but ${emergencyVariable() ?? 'the environment'}=true in this environment keeps gateways started with it locked down`
              : 'lockdown OFF: inference is served again',
        );
        return;
      }
      case 'status':
      case undefined: {
        const state = await currentState(store);
        if (json) return out(JSON.stringify(state, null, 2));
        out(describe(state));
        return;
      }
      case 'instance': {
        const [name, onOff, ...extra] = rest;
        if (!name || (onOff !== 'on' && onOff !== 'off') || extra.length > 0) throw new UsageError('usage: llmproxy lockdown instance NAME on|off [--reason TEXT]');
        if (!Object.hasOwn(config.instances, name)) throw new UsageError(`no instance named "${name}" in the configuration`);
        const disabled = onOff === 'on';
        const actor = cliActor();
        await writeInstanceDisabled(store.governance.settings, name, disabled, actor, reason);
        await store.audit.append([lockdownAuditEvent({ on: disabled, instance: name, actor, reason, method: 'cli', requestId: `cli-${randomUUID()}` })]);
        const state = await currentState(store);
        if (json) return out(JSON.stringify(state, null, 2));
        out(disabled ? `instance ${name} DISABLED: its requests answer 503 instance_disabled` : `instance ${name} enabled`);
        return;
      }
      default:
        throw new UsageError(`unknown lockdown subcommand "${sub}"`);
    }
  });
}

/** The store's state as a gateway started in this environment would see it. */
async function currentState(store: Store): Promise<LockdownState> {
  const { lockdown, disabled } = await readLockdown(store.governance.settings);
  const variable = emergencyVariable();
  if (variable !== undefined) {
    return { on: true, source: 'env', reason: `${variable}=true in the environment`, actor: 'environment', since: null, disabledInstances: disabled };
  }
  return { on: lockdown.on, source: lockdown.on ? 'store' : null, reason: lockdown.reason, actor: lockdown.actor, since: lockdown.since, disabledInstances: disabled };
}

function describe(s: LockdownState): string {
  const lines = [
    s.on ? `lockdown: ON (${s.source === 'env' ? (emergencyVariable() ?? 'environment') : 'store'})` : 'lockdown: off',
    ...(s.on && s.reason ? [`reason:   ${s.reason}`] : []),
    ...(s.actor ? [`by:       ${s.actor}${s.since ? ` at ${new Date(s.since).toISOString()}` : ''}`] : []),
  ];
  const names = Object.keys(s.disabledInstances);
  lines.push(names.length === 0 ? 'disabled instances: none' : `disabled instances: ${names.map((n) => `${n}${s.disabledInstances[n]!.reason ? ` (${s.disabledInstances[n]!.reason})` : ''}`).join(', ')}`);
  return lines.join('\n');
}

/** Who runs the CLI, for the audit trail: the operating-system user (`cli:alice`). */
function cliActor(): string {
  try {
    return `cli:${userInfo().username}`;
  } catch {
    return 'cli:unknown';
  }
}
