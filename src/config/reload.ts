import type { Config } from './schema.js';

/** Sections a running gateway re-applies on reload; every other one needs a restart. */
const RELOADABLE: ReadonlySet<string> = new Set(['instances', 'model_aliases', 'secrets', 'upstream']);

/** What a config reload changes, and what it has to leave as it is. */
export interface ConfigChange {
  /** The config to run with: `next`, except the sections that need a restart keep their running values. */
  effective: Config;
  added: string[];
  removed: string[];
  changed: string[];
  aliasesChanged: boolean;
  /** Top-level sections that differ but need a restart (`server`, `storage`, `auth`...). */
  restartRequired: string[];
}

/**
 * Compares the running config with a newly loaded one. Instances count as changed when any of
 * their settings differ (endpoint, authentication...); `secrets` and `upstream` reach the new
 * instances through their build.
 *
 * @example
 *   const change = configChange(running, loadConfig(path).config);
 *   change.restartRequired // ['server'] when server.port differs
 */
export function configChange(active: Config, next: Config): ConfigChange {
  const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
  const effective: Record<string, unknown> = { ...next };
  const restartRequired: string[] = [];
  for (const section of new Set([...Object.keys(active), ...Object.keys(next)])) {
    if (RELOADABLE.has(section)) continue;
    const running = (active as Record<string, unknown>)[section];
    if (!same(running, (next as Record<string, unknown>)[section])) restartRequired.push(section);
    if (running === undefined) delete effective[section];
    else effective[section] = running;
  }
  const names = (c: Config) => Object.keys(c.instances);
  return {
    effective: effective as Config,
    added: names(next).filter((n) => !Object.hasOwn(active.instances, n)),
    removed: names(active).filter((n) => !Object.hasOwn(next.instances, n)),
    changed: names(next).filter((n) => Object.hasOwn(active.instances, n) && !same(active.instances[n], next.instances[n])),
    aliasesChanged: !same(active.model_aliases, next.model_aliases),
    restartRequired,
  };
}
