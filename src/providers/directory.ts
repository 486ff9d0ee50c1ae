import type { Instance } from './instance.js';

/**
 * The configured instances by name, and the default instance of each provider type (the one
 * with `default: true`, else the first of that type in the file). A config reload swaps the
 * whole set at once (`replace`); a request that already resolved an instance keeps it.
 */
export class InstanceDirectory {
  #byName: ReadonlyMap<string, Instance> = new Map();
  #defaults: ReadonlyMap<string, Instance> = new Map();

  constructor(instances: readonly Instance[]) {
    this.replace(instances);
  }

  /** An instance by its name, or the default instance when `nameOrType` is a provider type. */
  resolve(nameOrType: string): Instance | undefined {
    return this.#byName.get(nameOrType) ?? this.#defaults.get(nameOrType);
  }

  get all(): Instance[] {
    return [...this.#byName.values()];
  }

  /**
   * Serves `instances` from now on, in one step (both maps are built first, then assigned), and
   * returns the previous ones; closing those is the caller's job, once their requests are done.
   */
  replace(instances: readonly Instance[]): Instance[] {
    const previous = this.all;
    const byName = new Map(instances.map((i) => [i.name, i]));
    const defaults = new Map<string, Instance>();
    for (const i of instances) if (i.isDefault && !defaults.has(i.type)) defaults.set(i.type, i);
    for (const i of instances) if (!defaults.has(i.type)) defaults.set(i.type, i);
    this.#byName = byName;
    this.#defaults = defaults;
    return previous;
  }

  async close(): Promise<void> {
    await Promise.all(this.all.map((i) => i.close()));
  }
}
