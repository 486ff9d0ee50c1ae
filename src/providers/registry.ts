import type { z } from 'zod';
import { anthropic } from './anthropic/index.js';
import { azure } from './azure/index.js';
import { bedrock } from './bedrock/index.js';
import { demo } from './demo/index.js';
import { oci } from './oci/index.js';
import { ollama } from './ollama/index.js';
import { openai } from './openai/index.js';
import { xai } from './xai/index.js';
import { vertex } from './vertex/index.js';
import { watsonx } from './watsonx/index.js';
import type { ProviderDefinition } from './types.js';

/** The only list of providers. Adding one is a folder plus a line here. */
export const PROVIDERS = [openai, anthropic, bedrock, demo, azure, xai, ollama, watsonx, vertex, oci] as const;

/** One entry of `instances`: the output of whichever provider's schema its `type` picks. */
export type InstanceConfig = z.output<(typeof PROVIDERS)[number]['schema']>;

export const PROVIDERS_BY_TYPE: ReadonlyMap<string, ProviderDefinition> = new Map(
  PROVIDERS.map((p) => [p.type, p as unknown as ProviderDefinition]),
);
