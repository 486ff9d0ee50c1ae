import type { ListPrice, ProviderDefinition } from './types.js';

/**
 * What the providers declare about models, merged over the registry for the layers that must not
 * name a provider (governance's prices and token estimate); the composition root hands it over.
 */
export interface ModelCatalog {
  /** Every provider's built-in list prices, by model id or id prefix. */
  readonly prices: Readonly<Record<string, ListPrice>>;
  /** The other ids a lower-cased model id is priced under: every provider's `priceIds`, in registry order. */
  priceIds(id: string): readonly string[];
  /** Every provider's completion-cap fields. */
  readonly completionCapFields: readonly string[];
}

/** The catalog of `providers` (the registry's). Throws when two providers price one key differently. */
export function modelCatalog(providers: Iterable<ProviderDefinition>): ModelCatalog {
  const list = [...providers];
  const prices = new Map<string, { price: ListPrice; owner: string }>();
  for (const p of list) {
    for (const [key, price] of Object.entries(p.prices ?? {})) {
      const previous = prices.get(key);
      if (previous && (previous.price.input_per_mtok !== price.input_per_mtok || previous.price.output_per_mtok !== price.output_per_mtok)) {
        throw new Error(`providers "${previous.owner}" and "${p.type}" both price "${key}", differently`);
      }
      prices.set(key, { price, owner: p.type });
    }
  }
  const normalisers = list.flatMap((p) => (p.priceIds ? [p.priceIds.bind(p)] : []));
  return {
    prices: Object.fromEntries([...prices].map(([key, { price }]) => [key, price])),
    priceIds: (id) => normalisers.flatMap((n) => n(id)),
    completionCapFields: [...new Set(list.flatMap((p) => p.completionCapFields ?? []))],
  };
}
