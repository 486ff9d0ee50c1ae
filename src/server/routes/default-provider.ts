import { StartupError } from '../../providers/build.js';

/** What the check needs of an instance (an Instance, or a configured block with its name). */
type Named = Readonly<{ name: string; type: string }>;

/**
 * `LLM_DEFAULT_PROVIDER` (seed 004's switch): an instance name or provider type that receives a
 * model name on the unified `/v1` routes which is neither an alias nor `instance/model`, so
 * clients written for one provider's bare model names (`gpt-4o`) keep working.
 */
export const DEFAULT_PROVIDER_VARIABLE = 'LLM_DEFAULT_PROVIDER';

/** The variable's value, trimmed; undefined when unset or empty. */
export function defaultProviderFromEnv(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const value = env[DEFAULT_PROVIDER_VARIABLE]?.trim();
  return value === undefined || value === '' ? undefined : value;
}

/**
 * Why `name` cannot be the default provider for `instances` (it names neither an instance nor
 * a provider type of one), naming the variable; undefined when it can.
 *
 * @example
 * defaultProviderProblem('opneai', instances) // 'LLM_DEFAULT_PROVIDER: no instance or provider type named "opneai" (instances: openai, claude)'
 */
export function defaultProviderProblem(name: string, instances: readonly Named[]): string | undefined {
  if (instances.some((i) => i.name === name || i.type === name)) return undefined;
  return `${DEFAULT_PROVIDER_VARIABLE}: no instance or provider type named "${name.slice(0, 64)}" (instances: ${instances.map((i) => i.name).join(', ')})`;
}

/** defaultProviderProblem as a startup failure. */
export function checkDefaultProvider(name: string | undefined, instances: readonly Named[]): void {
  const problem = name === undefined ? undefined : defaultProviderProblem(name, instances);
  if (problem !== undefined) throw new StartupError(problem);
}
