import { isObject } from './converse/response.js';
import type { ModelLister } from '../types.js';

/**
 * Bedrock's ListFoundationModels, `GET /foundation-models` on the control plane
 * (docs.aws.amazon.com/bedrock/latest/APIReference/API_ListFoundationModels.html): one answer,
 * `{"modelSummaries": [{"modelId", "providerName", "inferenceTypesSupported", ...}]}`, no
 * creation time. Only models invocable by their id are listed: `ON_DEMAND` among
 * `inferenceTypesSupported` (one served only through an inference profile, e.g. Claude 4,
 * answers its bare id with a ValidationException) and not `modelLifecycle.status: LEGACY`
 * (deprecated: refused to accounts that have not used it lately). The path's first
 * segment routes the request to the `control` upstream (`upstreamFor`).
 */
export const BEDROCK_MODEL_LIST: ModelLister = {
  request: () => ({ path: '/foundation-models' }),
  page(body) {
    const summaries = isObject(body) ? body['modelSummaries'] : undefined;
    if (!Array.isArray(summaries)) throw new Error('the model list has no "modelSummaries" array');
    const models = summaries.flatMap((s) => (isObject(s) && typeof s['modelId'] === 'string' && invocable(s) ? [{ id: s['modelId'], created: 0 }] : []));
    return { models, next: undefined };
  },
};

/** Invocable by its own id: on demand (a summary without the field is taken as invocable) and not LEGACY. */
function invocable(summary: Record<string, unknown>): boolean {
  const types = summary['inferenceTypesSupported'];
  const lifecycle = summary['modelLifecycle'];
  return (!Array.isArray(types) || types.includes('ON_DEMAND')) && !(isObject(lifecycle) && lifecycle['status'] === 'LEGACY');
}
