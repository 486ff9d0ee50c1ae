import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { validate } from '../../src/config/load.js';
import { completionCaps } from '../../src/governance/estimate.js';
import { modelCatalog } from '../../src/providers/catalog.js';
import { parsePathRule, type PathRule } from '../../src/providers/transparent-path.js';
import type { ProbeRequest, ProviderDefinition, UsageTranscripts } from '../../src/providers/types.js';
import { UsageObserver, type Usage } from '../../src/providers/usage.js';
import { DEFINITIONS, parameterColumns, useSampleInstances } from '../helpers/provider-samples.js';
import { readTestdata, testdataFiles, testdataSkip } from '../helpers/testdata.js';

/**
 * The contract every provider in the registry meets (issue 13): it declares samples; its schema
 * is strict; its transparent rules parse, are unique and cannot traverse; it has a column in
 * docs/protocol-mode.md when it has protocol-mode chat; its usage reader reads its recorded wire
 * transcripts (or it says why it has none); it declares a credential probe (or why it has none);
 * it is in README's provider table; what it declares
 * about models merges with the others'. A provider added without meeting it fails here, saying
 * what is missing.
 */

const REPO = new URL('../../../', import.meta.url);
const README = fileURLToPath(new URL('README.md', REPO));
const PROTOCOL_DOC = fileURLToPath(new URL('docs/protocol-mode.md', REPO));

const samples = useSampleInstances();

/** The config error `raw` causes, as text. */
function problemWith(raw: Record<string, unknown>): string {
  try {
    validate({ instances: { x: raw } }, 'contract');
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
  return '(accepted)';
}

/** The problems of a set of rules: unparsable sources, duplicates, segments that could traverse. */
function ruleProblems(rules: readonly PathRule[]): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const rule of rules) {
    const parsed = parsePathRule(rule.source);
    if ('error' in parsed) problems.push(parsed.error);
    else if (parsed.method !== rule.method || parsed.segments.join('/') !== rule.segments.join('/')) problems.push(`"${rule.source}" does not parse to itself`);
    const key = `${rule.method ?? '*'} ${rule.segments.join('/')}`;
    if (seen.has(key)) problems.push(`"${rule.source}" is listed twice`);
    seen.add(key);
    for (const s of rule.segments) if (s === '' || s === '.' || s === '..' || s.includes('%') || s.includes('\\')) problems.push(`"${rule.source}" has segment "${s}"`);
  }
  return problems;
}

/** What an observer reports for `chunks` of an answer of `contentType`. */
function observe(reader: ProviderDefinition['usage'], contentType: string, chunks: Iterable<Buffer>): Usage | undefined {
  const o = UsageObserver.for(reader, contentType);
  assert.ok(o, `the usage reader observes ${contentType}`);
  for (const c of chunks) o.push(c);
  return o.end();
}

/** `bytes` cut into pieces of 1..17 bytes, deterministically. */
function pieces(bytes: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0, n = 1; i < bytes.length; i += n, n = (n % 17) + 1) out.push(bytes.subarray(i, i + n));
  return out;
}

/** The provider `type`s README's provider table lists, in order. */
function readmeTypes(): string[] {
  const lines = readFileSync(README, 'utf8').split('\n');
  const header = lines.findIndex((l) => l.startsWith('| provider `type` |'));
  assert.ok(header >= 0, 'README.md has a provider table headed "| provider `type` |"');
  const types: string[] = [];
  for (const line of lines.slice(header + 2)) {
    const m = /^\| `([a-z0-9-]+)` \|/.exec(line);
    if (!m) break;
    types.push(m[1]!);
  }
  return types;
}

/** The headings of docs/protocol-mode.md's parameter table. */
function tableHeadings(): string[] {
  const doc = readFileSync(PROTOCOL_DOC, 'utf8');
  const header = doc.split('\n').find((l) => l.startsWith('| parameter |'));
  assert.ok(header, 'docs/protocol-mode.md has the parameter table');
  return header.split(' | ').slice(1).map((h) => h.replace(/ \|$/, ''));
}

describe('every provider in the registry', () => {
  test('declares samples (instances, and transcripts or why it has none), which set up', () => {
    assert.deepEqual(new Set(samples().map((s) => s.provider.type)).size, DEFINITIONS.length, 'every provider has a sample instance set up');
    assert.deepEqual(DEFINITIONS.filter((p) => p.samples === undefined || p.samples.instances.length === 0).map((p) => p.type), [], 'providers without samples.instances');
  });

  test('is listed in README.md\'s provider table, which lists no other', () => {
    const listed = readmeTypes();
    assert.deepEqual(DEFINITIONS.map((p) => p.type).filter((t) => !listed.includes(t)), [], 'providers missing from README.md');
    assert.deepEqual(listed.filter((t) => !DEFINITIONS.some((p) => p.type === t)), [], 'README.md lists providers the registry does not have');
  });

  test('merges its prices, price ids and completion caps with the others\'', () => {
    const catalog = modelCatalog(DEFINITIONS);
    const caps = completionCaps(catalog.completionCapFields);
    assert.ok(caps.topLevel.size > 0);
    for (const p of DEFINITIONS) for (const key of Object.keys(p.prices ?? {})) assert.equal(key, key.toLowerCase(), `${p.type} prices "${key}": keys are lower case`);
  });

  for (const provider of DEFINITIONS) {
    describe(provider.type, () => {
      test('its schema is strict: an unknown field is refused by name', () => {
        const sample = provider.samples?.instances[0]?.config ?? {};
        assert.match(problemWith({ type: provider.type, ...sample, not_a_field: 1 }), /instances\.x\.not_a_field: unknown field/);
        const auth = sample['authentication'];
        if (auth !== null && typeof auth === 'object') {
          assert.match(problemWith({ type: provider.type, ...sample, authentication: { ...auth, not_a_field: 1 } }), /instances\.x\.authentication\.not_a_field: unknown field/);
        }
      });

      test('its sample instances validate', () => {
        for (const sample of provider.samples?.instances ?? []) assert.equal(problemWith({ type: provider.type, ...sample.config }), '(accepted)');
      });

      test('its transparent rules parse, are listed once and cannot traverse', () => {
        assert.deepEqual(ruleProblems(provider.transparentRules), []);
        for (const s of samples().filter((i) => i.provider === provider && i.parts.transparentRules)) assert.deepEqual(ruleProblems(s.parts.transparentRules!), [], `sample instance ${s.index}`);
        const reachable = provider.transparentRules.length + samples().filter((i) => i.provider === provider).reduce((n, i) => n + (i.parts.transparentRules?.length ?? 0), 0);
        assert.ok(reachable > 0, 'no transparent route at all');
      });

      test('declares a credential probe (a GET from its base path), or why it has none', () => {
        const declared = provider.probe;
        if (declared !== undefined && 'none' in declared) {
          assert.ok(declared.none.length >= 20, 'a reason, not a placeholder');
          assert.deepEqual(samples().filter((i) => i.provider === provider && i.parts.probe !== undefined).map((i) => i.index), [], 'a provider without a probe has no instance probe either');
          return;
        }
        for (const s of samples().filter((i) => i.provider === provider)) {
          const probe: ProbeRequest | undefined = s.parts.probe ?? declared;
          assert.ok(probe, `${provider.type} sample ${s.index}: declare \`probe\` (one cheap authenticated GET) on the definition or in setup, or \`probe: { none: 'why' }\``);
          assert.match(probe.path, /^\/[^/]/, 'the path starts at the base path with one "/"');
          for (const name of Object.keys(probe.headers ?? {})) assert.equal(name, name.toLowerCase(), `probe header ${name} is lower case`);
        }
      });

      test('maps each of its transparent routes to an endpoint scope (keys with --endpoints can reach them)', () => {
        // A wildcard stands for a model segment as Vertex spells it (`{model}:{method}`); other providers read it as any id.
        const example = (rule: PathRule) => rule.segments.map((s) => (s === '*' || s === '**' ? 'sample-model:generateContent' : s));
        const rules = [...provider.transparentRules, ...samples().filter((i) => i.provider === provider).flatMap((i) => i.parts.transparentRules ?? [])];
        const unmapped = rules.filter((r) => provider.endpointOf?.(r.method ?? 'POST', example(r)) === undefined).map((r) => r.source);
        assert.deepEqual(unmapped, [], `${provider.type}: routes without an endpoint in endpointOf`);
      });

      test('has a column in docs/protocol-mode.md when it has protocol-mode chat', () => {
        const withChat = samples().filter((i) => i.provider === provider && i.chat !== undefined);
        if (withChat.length === 0) return;
        const column = parameterColumns(samples()).find((c) => c.types.includes(provider.type));
        assert.ok(column, `${provider.type} has chat but no sample chat model (samples.instances[0].chat)`);
        assert.ok(tableHeadings().includes(column.heading), `docs/protocol-mode.md has no "${column.heading}" column: run UPDATE_DOCS=1 npm test`);
      });

      const transcripts = provider.samples?.transcripts;
      if (transcripts !== undefined && 'none' in transcripts) {
        test('says why it has no recorded transcripts', () => assert.ok(transcripts.none.length >= 20, 'a reason, not a placeholder'));
        return;
      }
      test('declares recorded transcripts for its usage reader', () => {
        assert.ok(transcripts && transcripts.length > 0, `${provider.type}: declare samples.transcripts (wire transcripts under ../shared/testdata) or { none: 'why' }`);
      });
      for (const set of transcripts ?? []) usageSuite(provider, set);
    });
  }
});

/** The reader reads usage from the set's files, the same however the bytes arrive. */
function usageSuite(provider: ProviderDefinition, set: UsageTranscripts): void {
  describe(`usage from ${set.dir}/*${set.ext}${set.match ? ` (${set.match.source})` : ''}`, { skip: testdataSkip(set.dir) }, () => {
    const files = testdataFiles(set.dir, set.ext).filter((name) => set.match?.test(name) ?? true);
    test('the set is not empty', () => assert.ok(files.length > 0, `no file in ../shared/testdata/${set.dir} matches`));
    const found: string[] = [];
    for (const name of files) {
      test(name, () => {
        const bytes = readTestdata(set.dir, name);
        const whole = observe(provider.usage, set.contentType, [bytes]);
        assert.deepEqual(observe(provider.usage, set.contentType, pieces(bytes)), whole, 'the same, cut in pieces');
        if (set.usage === 'none') assert.equal(whole, undefined, 'the set is declared to report no usage');
        else if (whole && whole.inputTokens + whole.outputTokens > 0) found.push(name);
      });
    }
    if (set.usage !== 'none') test('usage is read from the set', () => assert.ok(found.length > 0, `${provider.type}'s reader reported no tokens from any of ${files.join(', ')}`));
  });
}
