import { PROFILE_GEOGRAPHIES, PROFILE_PREFIX } from './inference-profiles.js';

/**
 * The ids a key's model scope may allow a CountTokens request (`POST /model/{id}/count-tokens`)
 * under. CountTokens takes a foundation-model id, not an inference profile, so a client that
 * runs `us.anthropic.X` counts its tokens on `anthropic.X` (Claude Code does): a key scoped to
 * any inference profile of that model may count tokens for it. Only CountTokens is widened —
 * invoking `anthropic.X` still needs a scope on `anthropic.X` itself.
 *
 * @example
 * countTokensScopeAliases(['model', 'anthropic.claude-x-v1%3A0', 'count-tokens'], 'anthropic.claude-x-v1:0');
 * // ['us.anthropic.claude-x-v1:0', 'eu.anthropic.claude-x-v1:0', …]
 */
export function countTokensScopeAliases(segments: readonly string[], model: string): readonly string[] {
  if (segments.length !== 3 || segments[0] !== 'model' || segments[2] !== 'count-tokens') return [];
  if (PROFILE_PREFIX.test(model) || model.startsWith('arn:')) return [];
  return PROFILE_GEOGRAPHIES.map((geo) => `${geo}.${model}`);
}
