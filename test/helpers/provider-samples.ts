import { after, before } from 'node:test';
import { validate } from '../../src/config/load.js';
import { createLogger } from '../../src/observability/logger.js';
import { Metrics } from '../../src/observability/metrics.js';
import { SecretScrubber } from '../../src/observability/scrubber.js';
import type { ChatTranslatorFactory, EmbeddingsTranslatorFactory } from '../../src/protocol/translator.js';
import { PROVIDERS_BY_TYPE } from '../../src/providers/registry.js';
import type { DirectApis, ProviderContext, ProviderDefinition, ProviderParts } from '../../src/providers/types.js';
import { SecretResolver } from '../../src/secrets/resolver.js';

/**
 * The registry's providers as the tests that run over it see them: each definition's sample
 * instances (ProviderSamples) validated and set up, with the translators they pick. Secrets in
 * the samples are `${env:PROP_KEY}`, set here; nothing is resolved or fetched.
 *
 * @example
 * const built = await sampleInstances();
 * try { for (const s of built.instances) ... } finally { await built.close(); }
 */

/** The definitions of the registry, in registry order. */
export const DEFINITIONS: readonly ProviderDefinition[] = [...PROVIDERS_BY_TYPE.values()];

/** One sample instance of one provider, set up. */
export interface SampleInstance {
  provider: ProviderDefinition;
  /** The index of the sample in the provider's `samples.instances`. */
  index: number;
  parts: ProviderParts;
  /** What the instance translates chat with (its own, else the definition's). */
  chat: ChatTranslatorFactory | undefined;
  embeddings: EmbeddingsTranslatorFactory | undefined;
  /** The models the sample names for each. */
  chatModels: readonly string[];
  embeddingsModels: readonly string[];
}

function context(): ProviderContext {
  const scrubber = new SecretScrubber();
  const metrics = new Metrics();
  const logger = createLogger({ level: 'error', scrubber, destination: { write: () => {} } });
  return { secrets: new SecretResolver({ baseDir: '/', defaultIntervalMs: 60_000, scrubber, logger, metrics }), logger, metrics, scrubber, baseDir: '/' };
}

/** Validates and sets up every sample instance of every provider that declares samples. */
export async function sampleInstances(providers: readonly ProviderDefinition[] = DEFINITIONS): Promise<{ instances: SampleInstance[]; close(): Promise<void> }> {
  process.env['PROP_KEY'] = 'property-test-secret';
  const instances: SampleInstance[] = [];
  const close = async () => {
    for (const i of instances) await i.parts.close?.();
  };
  try {
    for (const provider of providers) {
      for (const [index, sample] of (provider.samples?.instances ?? []).entries()) {
        const config = validate({ instances: { x: { type: provider.type, ...sample.config } } }, `${provider.type} sample ${index}`);
        const parts: ProviderParts = await provider.setup('x', config.instances['x'] as never, context());
        instances.push({ provider, index, parts, chat: parts.chat ?? provider.chat, embeddings: parts.embeddings ?? provider.embeddings, chatModels: sample.chat, embeddingsModels: sample.embeddings });
      }
    }
  } catch (err) {
    await close();
    throw err;
  }
  return { instances, close };
}

/**
 * Sets the sample instances up before the calling file's tests and closes them after; the
 * returned function gives them (empty until `before` ran).
 */
export function useSampleInstances(): () => readonly SampleInstance[] {
  let built: Awaited<ReturnType<typeof sampleInstances>> | undefined;
  before(async () => {
    built = await sampleInstances();
  });
  after(async () => {
    await built?.close();
  });
  return () => built?.instances ?? [];
}

/** One column: the providers it stands for, and the translator and model observed. */
export interface Column {
  types: string[];
  heading: string;
  chat: ChatTranslatorFactory;
  model: string;
  /** `samples.passThrough` of the column's providers (one translator: the same for all). */
  passThrough: { readonly drops: readonly string[] } | undefined;
  /** The client protocols the column's first provider speaks itself (DirectApis). */
  direct: DirectApis;
}

/**
 * The table's columns: the first sample instance with a chat translator of each provider,
 * sorted by declared place (undeclared ones after, in registry order); neighbours that share
 * one translator share a column.
 */
export function parameterColumns(instances: readonly SampleInstance[], sameColumn: (a: Column, b: Column) => boolean = () => true): Column[] {
  const firsts = instances.filter((s) => s.index === 0 && s.chat !== undefined && s.chatModels.length > 0);
  const place = (s: SampleInstance) => s.provider.samples?.column?.place ?? Number.POSITIVE_INFINITY;
  const sorted = firsts.map((s, order) => ({ s, order })).sort((a, b) => place(a.s) - place(b.s) || a.order - b.order);
  const columns: Column[] = [];
  for (const { s } of sorted) {
    const heading = s.provider.samples?.column?.heading ?? s.provider.type;
    const last = columns.at(-1);
    const column: Column = { types: [s.provider.type], heading, chat: s.chat!, model: s.chatModels[0]!, passThrough: s.provider.samples?.passThrough, direct: s.parts.direct ?? s.provider.direct ?? {} };
    if (last && last.chat === s.chat && sameColumn(last, column)) {
      last.types.push(s.provider.type);
      last.heading += `, ${heading}`;
    } else {
      columns.push(column);
    }
  }
  return columns;
}
