import type { FleetEvent, KeyStore, Store } from './types.js';

/**
 * `store`, announcing the changes every running gateway must apply at once: a key revoked or
 * rotated (`{kind: 'key', id}`), a lockdown setting written (`{kind: 'lockdown'}`) and a
 * security-relevant identity change (`{kind: 'identity'}`: users, enrolments, sessions), each
 * after the store committed it. Used by the gateway and by CLI commands alike, so a change is
 * announced whoever makes it. `close` also runs `onClose` (the publisher's connection).
 */
export function announceChanges(store: Store, publish: (event: FleetEvent) => Promise<void>, onClose?: () => Promise<void>): Store {
  const keys: KeyStore = forward(store.keys, {
    async revoke(id: string, at: number) {
      const record = await store.keys.revoke(id, at);
      if (record) await publish({ kind: 'key', id: record.id });
      return record;
    },
    async rotate(oldId, replacement, oldExpiresAt) {
      const result = await store.keys.rotate(oldId, replacement, oldExpiresAt);
      await publish({ kind: 'key', id: result.old.id });
      return result;
    },
  } satisfies Partial<KeyStore>);
  const settings = forward(store.governance.settings, {
    async set(name: string, value: string | null) {
      await store.governance.settings.set(name, value);
      await publish({ kind: 'lockdown' });
    },
  });
  const governance = forward(store.governance, { settings });
  const unwatch = store.identity.watch(() => void publish({ kind: 'identity' }));
  return forward(store, {
    keys,
    governance,
    async close() {
      unwatch();
      await onClose?.();
      await store.close();
    },
  });
}

/** `target` with `overrides` in place; every other member read from `target` (methods bound to it). */
function forward<T extends object>(target: T, overrides: Partial<T>): T {
  return new Proxy(target, {
    get(t, prop) {
      if (Object.hasOwn(overrides, prop)) return (overrides as Record<PropertyKey, unknown>)[prop];
      const value = Reflect.get(t, prop, t) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(t) : value;
    },
  });
}
