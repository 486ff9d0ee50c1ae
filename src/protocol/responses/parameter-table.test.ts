import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parameterColumns, useSampleInstances } from '../../../test/helpers/provider-samples.js';
import { openaiCompatibleChat } from '../../providers/openai-compatible/chat.js';
import { anthropicChat } from '../anthropic-messages/index.js';
import { RESPONSES_PARAMETER_SAMPLES, observeResponses, renderResponsesTable, type ResponsesOutcome } from './parameter-table.js';

describe('the Responses parameter table, observed', () => {
  const anthropic = observeResponses(anthropicChat, 'claude-sonnet-4-5');
  const openai = observeResponses(openaiCompatibleChat, 'gpt-4.1');

  test('one outcome per sample, in the samples\' order', () => {
    for (const outcomes of [anthropic, openai]) assert.deepEqual([...outcomes.keys()], RESPONSES_PARAMETER_SAMPLES.map((s) => s.parameter));
  });

  test('what the converter decides is the same for every provider', () => {
    const expected: Array<[string, ResponsesOutcome]> = [
      ['input: image (file_id)', 'refused'],
      ['input: item_reference', 'gateway'],
      ['tools: built-in (web_search)', 'refused'],
      ['background: true', 'refused'],
      ['conversation', 'refused'],
      ['store', 'gateway'],
      ['previous_response_id', 'gateway'],
      ['metadata', 'gateway'],
      ['reasoning.summary', 'dropped'],
      ['truncation: auto', 'dropped'],
      ['include', 'dropped'],
      ['max_tool_calls', 'dropped'],
      ['top_logprobs', 'dropped'],
    ];
    for (const [parameter, outcome] of expected) {
      assert.equal(anthropic.get(parameter), outcome, `anthropic: ${parameter}`);
      assert.equal(openai.get(parameter), outcome, `openai-compatible: ${parameter}`);
    }
  });

  test('what the translators decide differs: Anthropic has no reasoning_effort or service_tier, an OpenAI-compatible API sends them', () => {
    assert.deepEqual([anthropic.get('reasoning.effort'), anthropic.get('service_tier'), anthropic.get('text.verbosity')], ['dropped', 'dropped', 'dropped']);
    assert.deepEqual([openai.get('reasoning.effort'), openai.get('service_tier'), openai.get('text.verbosity')], ['sent', 'sent', 'sent']);
    for (const parameter of ['input: function_call and function_call_output', 'tools: function', 'text.format: json_schema', 'max_output_tokens', 'instructions']) {
      assert.equal(anthropic.get(parameter), 'sent', parameter);
      assert.equal(openai.get(parameter), 'sent', parameter);
    }
  });

  test('renders as a Markdown table, one row per parameter and one column per provider', () => {
    const table = renderResponsesTable([
      { name: 'Anthropic', outcomes: anthropic },
      { name: 'OpenAI-compatible', outcomes: openai },
    ]);
    const lines = table.split('\n');
    assert.equal(lines[0], '| parameter | Anthropic | OpenAI-compatible |');
    assert.equal(lines[1], '| --- | --- | --- |');
    assert.equal(lines.length, RESPONSES_PARAMETER_SAMPLES.length + 2);
    assert.ok(lines.includes('| tools: built-in (web_search) | refused | refused |'), table);
    assert.ok(lines.includes('| reasoning.effort | dropped | sent |'), table);
  });
});

describe('every provider with a chat translator answers every Responses sample', () => {
  const samples = useSampleInstances();

  test('no sample throws anything but a refusal, and the converter\'s own decisions hold in every column', () => {
    const columns = parameterColumns(samples());
    assert.ok(columns.length > 2, 'the registry has chat translators');
    for (const c of columns) {
      const outcomes = observeResponses(c.chat, c.model);
      assert.equal(outcomes.size, RESPONSES_PARAMETER_SAMPLES.length, c.heading);
      assert.equal(outcomes.get('tools: built-in (web_search)'), 'refused', c.heading);
      assert.equal(outcomes.get('store'), 'gateway', c.heading);
      assert.equal(outcomes.get('input: text'), 'sent', c.heading);
    }
    const table = renderResponsesTable(columns.map((c) => ({ name: c.heading, outcomes: observeResponses(c.chat, c.model) })));
    assert.equal(table.split('\n').length, RESPONSES_PARAMETER_SAMPLES.length + 2);
  });
});
