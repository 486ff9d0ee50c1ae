/** What a key or a user may use: its scopes and its limits (shared by keys, users and principals). */

export interface KeyScopes {
  /** Instance names the key may use; null means every instance. */
  instances: string[] | null;
  /** Model names or `*` patterns the key may use; null means every model. */
  models: string[] | null;
  /**
   * Endpoint names (providers/endpoint-names.ts: chat, embeddings, models, ...) the key may call;
   * null or absent (rows written before endpoint scopes existed) means every endpoint.
   */
  endpoints?: string[] | null;
}

export interface KeyLimits {
  rpm: number | null;
  tpm: number | null;
  budgetUsd: number | null;
}
