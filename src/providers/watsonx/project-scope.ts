import { billingScopedBody } from '../billing-scope.js';
import type { WatsonxScope } from './openai_to_watsonx.js';

/**
 * watsonx bills the project or deployment space its JSON body names (`project_id` / `space_id`);
 * transparent bodies are held to the instance's (see billingScopedBody). The inference routes,
 * where a missing one is filled in, are `ml/v1/text/...`.
 *
 * @example
 * const body = scopedBody({ project_id: 'p-1' }, ['ml', 'v1', 'text', 'chat'], raw);
 */
export function scopedBody(scope: WatsonxScope, segments: readonly string[], body: Buffer | null): Buffer | null {
  const inference = segments[0] === 'ml' && segments[1] === 'v1' && segments[2] === 'text';
  const billing =
    'project_id' in scope
      ? { field: 'project_id', value: scope.project_id, kind: 'project', exclusive: [{ field: 'space_id', kind: 'deployment space' }] }
      : { field: 'space_id', value: scope.space_id, kind: 'deployment space', exclusive: [{ field: 'project_id', kind: 'project' }] };
  return billingScopedBody(billing, inference, body);
}
