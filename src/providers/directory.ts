import type { Instance } from './instance.js';

/**
 * The configured instances by name, and the default instance of each provider type (the one
 * with `default: true`, else the first of that type in the file).
 */
export class InstanceDirectory {
  readonly #byName: ReadonlyMap<string, Instance>;
  readonly #defaults = new Map<string, Instance>();

  constructor(instances: readonly Instance[]) {
    this.#byName = new Map(instances.map((i) => [i.name, i]));
    for (const i of instances) if (i.isDefault && !this.#defaults.has(i.type)) this.#defaults.set(i.type, i);
    for (const i of instances) if (!this.#defaults.has(i.type)) this.#defaults.set(i.type, i);
  }

  /** An instance by its name, or the default instance when `nameOrType` is a provider type. */
  resolve(nameOrType: string): Instance | undefined {
    return this.#byName.get(nameOrType) ?? this.#defaults.get(nameOrType);
  }

  get all(): Instance[] {
    return [...this.#byName.values()];
  }

  async close(): Promise<void> {
    await Promise.all(this.all.map((i) => i.close()));
  }
}
